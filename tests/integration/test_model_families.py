"""Every method on five model families (tests/families.py: tiny random models, a tokenizer and
a chat template of each family's shape, built offline).

Per family: the loss mask covers exactly the reply and the family's end-of-turn text (the
system prompt folded into the first user turn where the template has no system role, one BOS
where the template writes it), packed and padded log-probs agree, generation stops at the
end-of-turn token; per family and method, a run through ``run.stage.train`` loading the
model from its folder: the reference equals the policy at the first step, and ``final/``
reloads to the logits of the model that trained.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from families import FAMILIES, save_family
from helpers import SUPPORT_REQUESTS, metrics_records, write_jsonl
from tuneforge.config import parse_config
from tuneforge.data.render import RenderSettings, render_prompt
from tuneforge.data.template_roles import end_of_turn_token
from tuneforge.data.tokenize import (
    IGNORE_INDEX,
    TokenizedPair,
    TokenizedSFT,
    TokenizeSettings,
    tokenize_example,
)
from tuneforge.data.types import Origin, PairExample, SFTExample
from tuneforge.errors import DataError
from tuneforge.evaluate.inference.generate import stop_token_ids
from tuneforge.methods.logps import batch_token_logps
from tuneforge.model_families import TESTED_FAMILIES, UntestedFamilyWarning
from tuneforge.models import load_model, load_tokenizer, load_trained, packable
from tuneforge.run.stage import train

ORIGIN = Origin("chat.jsonl", 3)
SYSTEM = "Be brief."
REQUEST = "Where is my parcel?"
REPLY = "shipping"

#: The prompt each family's template renders for SYSTEM + REQUEST (generation prompt included)
#: and the text its template writes after a reply: written out by hand from the templates.
PROMPTS = {
    "llama": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhere is my parcel?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "qwen2": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhere is my parcel?"
        "<|im_end|>\n<|im_start|>assistant\n"
    ),
    "mistral": "<s>[INST] Be brief.\n\nWhere is my parcel? [/INST]",
    "gemma": (
        "<bos><start_of_turn>user\nBe brief.\n\nWhere is my parcel?<end_of_turn>\n"
        "<start_of_turn>model\n"
    ),
    "phi3": "<|user|>\nBe brief.\n\nWhere is my parcel?<|end|>\n<|assistant|>\n",
}
FOOTERS = {
    "llama": "<|eot_id|>",
    "qwen2": "<|im_end|>\n",
    "mistral": "</s>",
    "gemma": "<end_of_turn>\n",
    "phi3": "<|end|>\n",
}
ALL = sorted(FAMILIES)
METHODS = ("sft", "dpo", "orpo", "kto")


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every family saved like a hub model (config, safetensors, tokenizer with template)."""
    root = tmp_path_factory.mktemp("families")
    return {name: save_family(family, root / name) for name, family in FAMILIES.items()}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reference caches go to a fresh TUNEFORGE_HOME."""
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / "home"))


def ids_of(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without any special token added by the tokenizer."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_the_tested_families_are_the_ones_built_here() -> None:
    assert set(FAMILIES) == TESTED_FAMILIES


@pytest.mark.parametrize("name", ALL)
def test_architectures_vary_like_real_checkpoints(name: str, family_dirs: dict[str, Path]) -> None:
    model = load_model(str(family_dirs[name]))
    config = model.config
    assert config.model_type == name
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert tied is (name in ("qwen2", "gemma"))
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    assert kv_heads < heads if name != "phi3" else kv_heads == heads
    rope = config.rope_parameters
    expected = {"llama": "linear", "qwen2": "linear"}.get(name, "default")
    assert rope["rope_type"] == expected
    if name == "phi3":
        assert rope["partial_rotary_factor"] == 0.5


@pytest.mark.parametrize("name", ALL)
def test_loss_mask_is_exactly_the_reply_and_its_end_of_turn(
    name: str, family_dirs: dict[str, Path]
) -> None:
    family = FAMILIES[name]
    tokenizer = load_tokenizer(str(family_dirs[name]))
    settings = TokenizeSettings(system_prompt=SYSTEM)
    item = tokenize_example(
        SFTExample(ORIGIN, prompt=REQUEST, completion=REPLY), tokenizer, settings
    )
    assert isinstance(item, TokenizedSFT)
    prompt_ids = ids_of(tokenizer, PROMPTS[name])
    eot_id = tokenizer.convert_tokens_to_ids(family.end_of_turn)
    learned = ids_of(tokenizer, REPLY) + ids_of(tokenizer, FOOTERS[name])
    assert item.input_ids == prompt_ids + learned
    assert item.labels == [IGNORE_INDEX] * len(prompt_ids) + learned
    # The end-of-turn token is learned right after the reply, once.
    assert learned[len(ids_of(tokenizer, REPLY))] == eot_id
    assert [t for t in item.labels if t != IGNORE_INDEX].count(eot_id) == 1
    # The system prompt is in the input (folded where the template has no system role) and
    # nothing of it is learned.
    assert tokenizer.decode(item.input_ids[: len(prompt_ids)]).count(SYSTEM) == 1
    bos = tokenizer.bos_token_id
    assert item.input_ids.count(bos) == (1 if family.template_adds_bos else 0)
    if family.tokenizer_adds_bos:  # asked to, the tokenizer would add a second BOS
        assert tokenizer(PROMPTS[name])["input_ids"][:2] == [bos, bos]


@pytest.mark.parametrize("name", ALL)
def test_pairs_split_at_the_same_place(name: str, family_dirs: dict[str, Path]) -> None:
    tokenizer = load_tokenizer(str(family_dirs[name]))
    pair = PairExample(ORIGIN, prompt=REQUEST, chosen=REPLY, rejected="billing")
    item = tokenize_example(pair, tokenizer, TokenizeSettings(system_prompt=SYSTEM))
    assert isinstance(item, TokenizedPair)
    footer = ids_of(tokenizer, FOOTERS[name])
    assert item.prompt_ids == ids_of(tokenizer, PROMPTS[name])
    assert item.chosen_ids == ids_of(tokenizer, REPLY) + footer
    assert item.rejected_ids == ids_of(tokenizer, "billing") + footer


@pytest.mark.parametrize("name", ["gemma", "mistral", "phi3"])
def test_conversation_folds_its_system_message_and_learns_every_reply(
    name: str, family_dirs: dict[str, Path]
) -> None:
    tokenizer = load_tokenizer(str(family_dirs[name]))
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": REQUEST},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "I was charged twice."},
        {"role": "assistant", "content": "billing"},
    ]
    item = tokenize_example(SFTExample(ORIGIN, messages=messages), tokenizer, TokenizeSettings())
    assert isinstance(item, TokenizedSFT)
    footer = ids_of(tokenizer, FOOTERS[name])
    learned = [t for t in item.labels if t != IGNORE_INDEX]
    assert learned == ids_of(tokenizer, REPLY) + footer + ids_of(tokenizer, "billing") + footer
    assert tokenizer.decode(item.input_ids).startswith(PROMPTS[name])


def test_a_template_that_raises_names_the_example(family_dirs: dict[str, Path]) -> None:
    tokenizer = load_tokenizer(str(family_dirs["mistral"]))
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "user", "content": "Hello?"},
        {"role": "assistant", "content": "Hi."},
    ]
    with pytest.raises(DataError, match=r"^chat.jsonl:3: messages: .*roles must alternate"):
        tokenize_example(SFTExample(ORIGIN, messages=messages), tokenizer, TokenizeSettings())


@pytest.mark.parametrize("name", ALL)
def test_generation_uses_the_same_prompt_and_stops_at_the_end_of_turn(
    name: str, family_dirs: dict[str, Path]
) -> None:
    family = FAMILIES[name]
    tokenizer, model = load_trained(str(family_dirs[name]), family_dirs[name])
    prompt = render_prompt(REQUEST, tokenizer, RenderSettings(system_prompt=SYSTEM))
    assert prompt == PROMPTS[name]
    assert end_of_turn_token(tokenizer) == family.end_of_turn
    stops = stop_token_ids(model, tokenizer)
    assert tokenizer.convert_tokens_to_ids(family.end_of_turn) in stops
    assert tokenizer.eos_token_id in stops


@pytest.mark.parametrize("name", ALL)
def test_packed_and_padded_log_probs_agree(name: str, family_dirs: dict[str, Path]) -> None:
    tokenizer = load_tokenizer(str(family_dirs[name]))
    model = load_model(str(family_dirs[name]))
    assert packable(model)
    settings = TokenizeSettings(system_prompt=SYSTEM)
    rows = []
    for request, team in SUPPORT_REQUESTS[:5]:
        item = tokenize_example(
            SFTExample(ORIGIN, prompt=request, completion=team), tokenizer, settings
        )
        assert isinstance(item, TokenizedSFT)
        rows.append(item)
    width = max(len(row.input_ids) for row in rows)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), IGNORE_INDEX)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        input_ids[index, : len(row.input_ids)] = torch.tensor(row.input_ids)
        labels[index, : len(row.labels)] = torch.tensor(row.labels)
        attention[index, : len(row.input_ids)] = 1
    with torch.no_grad():
        packed, packed_mask = batch_token_logps(model, input_ids, attention, labels, pack=True)
        padded, padded_mask = batch_token_logps(model, input_ids, attention, labels, pack=False)
    assert torch.equal(packed_mask, padded_mask)
    assert int(padded_mask.sum()) == sum(len([t for t in r.labels if t != -100]) for r in rows)
    torch.testing.assert_close(packed, padded, atol=1e-5, rtol=0)


def data_file(tmp_path: Path, method: str) -> Path:
    """Twelve support requests: replies (sft), pairs (dpo, orpo) or rated replies (kto)."""
    teams = [team for _, team in SUPPORT_REQUESTS]
    wrong = teams[1:] + teams[:1]
    rows: list[dict[str, Any]]
    if method == "sft":
        rows = [{"prompt": p, "completion": t} for p, t in SUPPORT_REQUESTS]
    elif method == "kto":
        rows = [
            {"prompt": p, "completion": t if i % 2 else w, "score": 5 if i % 2 else 1}
            for i, ((p, t), w) in enumerate(zip(SUPPORT_REQUESTS, wrong, strict=True))
        ]
    else:
        rows = [
            {"prompt": p, "chosen": t, "rejected": w}
            for (p, t), w in zip(SUPPORT_REQUESTS, wrong, strict=True)
        ]
    return write_jsonl(tmp_path / f"{method}.jsonl", rows)


def family_config(tmp_path: Path, folder: Path, method: str, lora: bool) -> Any:
    """Two steps of ``method`` on the model in ``folder``, with a system prompt."""
    return parse_config(
        {
            "method": method,
            "model": str(folder),
            "output": str(tmp_path / "run"),
            "data": {
                "train": str(data_file(tmp_path, method)),
                "eval_split": 0.25,
                "max_length": 96,
                "system_prompt": "Answer with the team name.",
            },
            "lora": {"r": 4, "alpha": 8, "dropout": 0.0} if lora else None,
            "train": {
                "precision": "fp32",
                "logging_steps": 1,
                "batch_size": 4 if method == "kto" else 2,
                "max_steps": 2,
                "lr": 2e-2 if lora else 1e-3,
                # Two steps test the family, not early stopping (which could keep step 1's
                # weights, still the base's under warm-up).
                "early_stopping": False,
            },
        }
    )


def probe_ids(folder: Path) -> torch.Tensor:
    """A rendered prompt and reply of the family, as one row of ids (1, T)."""
    tokenizer = load_tokenizer(str(folder))
    item = tokenize_example(
        SFTExample(ORIGIN, prompt=REQUEST, completion=REPLY),
        tokenizer,
        TokenizeSettings(system_prompt=SYSTEM),
    )
    assert item is not None
    return torch.tensor([item.input_ids])


@pytest.mark.parametrize(
    ("name", "method", "lora"),
    [(name, method, True) for name in ALL for method in METHODS]
    + [(name, "sft", False) for name in ALL],
    ids=lambda value: {True: "lora", False: "full"}.get(value, value),
)
def test_every_method_trains_and_final_reloads(
    tmp_path: Path, family_dirs: dict[str, Path], name: str, method: str, lora: bool
) -> None:
    folder = family_dirs[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntestedFamilyWarning)
        model = load_model(str(folder))
    ids = probe_ids(folder)
    with torch.no_grad():
        before = model(input_ids=ids).logits
    outcome = train(family_config(tmp_path, folder, method, lora), model=model)
    rows = [row for row in metrics_records(outcome.run_dir) if "loss" in row]
    assert [row["step"] for row in rows] == [1, 2]
    if method in ("dpo", "kto"):
        # The adapter starts at zero: the adapter-off reference is the policy at step 1.
        rewards = [rows[0][k] for k in ("rewards/chosen", "rewards/rejected") if k in rows[0]]
        assert rewards and rewards == pytest.approx([0.0] * len(rewards), abs=1e-5)
    assert outcome.final_dir is not None
    model.eval()
    with torch.no_grad():
        trained = model(input_ids=ids).logits
        _, reloaded = load_trained(str(folder), outcome.final_dir)
        again = reloaded.eval()(input_ids=ids).logits
    assert (trained - before).abs().max() > 1e-4  # the steps changed the model
    torch.testing.assert_close(again, trained, atol=1e-5, rtol=0)


def _ollama_render(template: str, messages: list[dict[str, str]]) -> str:
    """What Ollama renders: the system message stays in ``.Messages`` and sets ``.System``."""
    from go_template import render

    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [{"Role": m["role"], "Content": m["content"]} for m in messages]
    return render(template, {"System": system, "Messages": turns})


@pytest.mark.parametrize("name", ["llama", "qwen2", "gemma"])
def test_export_template_renders_what_training_rendered(
    name: str, family_dirs: dict[str, Path]
) -> None:
    from tuneforge.export.ollama import go_template
    from tuneforge.export.template import stop_tokens, turn_format

    tokenizer = load_tokenizer(str(family_dirs[name]))
    turns = turn_format(tokenizer)
    assert turns.system_role is FAMILIES[name].system_role
    template = go_template(turns)
    for system in (SYSTEM, None):
        messages = [{"role": "system", "content": system}] if system else []
        messages += [
            {"role": "user", "content": REQUEST},
            {"role": "assistant", "content": REPLY},
            {"role": "user", "content": "I was charged twice."},
        ]
        if name == "qwen2" and system is None:  # Ollama gets the default from SYSTEM
            messages = [{"role": "system", "content": turns.default_system}, *messages]
        trained = render_prompt(messages, tokenizer, RenderSettings())
        assert turns.bos_text + _ollama_render(template, messages) == trained
    assert FAMILIES[name].end_of_turn in stop_tokens(tokenizer, chat=True)


@pytest.mark.parametrize("name", ["mistral", "phi3"])
def test_ollama_export_refuses_templates_without_a_turn_footer(
    name: str, family_dirs: dict[str, Path]
) -> None:
    from tuneforge.export.template import TemplateError, stop_tokens, turn_format

    tokenizer = load_tokenizer(str(family_dirs[name]))
    with pytest.raises(TemplateError, match="cannot translate the chat template"):
        turn_format(tokenizer)
    # The Hugging Face export still stops where training's replies ended.
    expected = {"mistral": ["</s>"], "phi3": ["<|end|>", "<|endoftext|>"]}[name]
    assert stop_tokens(tokenizer, chat=True) == expected


@pytest.mark.parametrize("name", ALL)
def test_hf_export_of_every_family_answers_like_the_run(
    tmp_path: Path, family_dirs: dict[str, Path], name: str
) -> None:
    import json

    from tuneforge.export import export_run

    outcome = train(family_config(tmp_path, family_dirs[name], "sft", lora=True))
    result = export_run(outcome.run_dir, tmp_path / "export", samples=2, max_new_tokens=4)
    assert [check.passed for check in result.checks] == [True]
    generation = json.loads((tmp_path / "export" / "generation_config.json").read_text())
    tokenizer = load_tokenizer(str(family_dirs[name]))
    stops = generation["eos_token_id"]
    stops = stops if isinstance(stops, list) else [stops]
    assert tokenizer.convert_tokens_to_ids(FAMILIES[name].end_of_turn) in stops
