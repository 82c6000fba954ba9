"""Variant prompts, few-shot turns, and the held-out set they are measured on."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from tuneforge.config import parse_config
from tuneforge.data.render import RenderSettings
from tuneforge.data.types import Origin, SFTExample
from tuneforge.evaluate.heldout import few_shot, load_eval_data
from tuneforge.evaluate.inference.generate import prompt_ids
from tuneforge.evaluate.variants import (
    encode_prompt,
    encode_reply,
    variant_specs,
    with_shots,
)


def _write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _config(tmp_path: Path, **eval_section: object):  # type: ignore[no-untyped-def]
    rows = [{"prompt": f"message {i}", "completion": "yes" if i % 3 else "no"} for i in range(30)]
    held = [{"prompt": f"held {i}", "completion": "yes"} for i in range(5)]
    data = {"train": _write(tmp_path / "t.jsonl", rows), "eval": _write(tmp_path / "e.jsonl", held)}
    data["system_prompt"] = "Short."
    return parse_config({"method": "sft", "data": data, "eval": dict(eval_section)})


def test_variant_prompts_and_descriptions(tmp_path: Path) -> None:
    cfg = _config(tmp_path, baseline_system_prompt="A long prompt with rules.")
    shots = [("q1", "yes")]
    baseline, tuned, both = variant_specs(cfg, shots, ["baseline", "tuned", "tuned+prompt"])
    assert (baseline.model, baseline.system_prompt, baseline.shots) == (
        "base",
        "A long prompt with rules.",
        shots,
    )
    assert (tuned.model, tuned.system_prompt, tuned.shots) == ("tuned", "Short.", [])
    assert (both.model, both.system_prompt) == ("tuned", "A long prompt with rules.")
    assert baseline.describe() == "base model + system prompt (5 words) + 1-shot"


def test_baseline_prompt_file(tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("From a file.\n", encoding="utf-8")
    cfg = _config(tmp_path, baseline_system_prompt_file=str(tmp_path / "long.txt"))
    assert variant_specs(cfg, [], ["baseline"])[0].system_prompt == "From a file."


def test_shots_become_earlier_turns_after_a_system_turn() -> None:
    shots = [("q1", "a1")]
    assert with_shots("q", shots) == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q"},
    ]
    own_system = [{"role": "system", "content": "S"}, {"role": "user", "content": "q"}]
    assert with_shots(own_system, shots)[0] == {"role": "system", "content": "S"}
    assert with_shots("q", []) == "q"


def test_prompt_and_reply_ids_are_the_training_ids(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    from tuneforge.data.tokenize import TokenizeSettings, tokenize_example

    cfg = _config(tmp_path)
    spec = variant_specs(cfg, [("q1", "no")], ["baseline"])[0]
    ids = encode_prompt("hello", spec, embedded_tokenizer)
    reply = encode_reply("hello", "yes", spec, embedded_tokenizer)
    full = tokenize_example(
        SFTExample(Origin("x", 1), with_shots("hello", spec.shots), "yes"),
        embedded_tokenizer,
        TokenizeSettings(max_length=4096, system_prompt="Short."),
    )
    assert full.input_ids == ids + reply  # type: ignore[union-attr]
    assert ids == prompt_ids(with_shots("hello", spec.shots), embedded_tokenizer, spec.render)
    assert embedded_tokenizer.decode(reply).startswith("yes")
    assert RenderSettings(system_prompt="Short.") == spec.render


def test_few_shot_cycles_through_labels_and_is_seeded(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    data = load_eval_data(cfg, None)
    shots = few_shot(data.train, 4, seed=0, labels=["yes", "no"])
    assert [answer for _, answer in shots] == ["yes", "no", "yes", "no"]
    assert few_shot(data.train, 4, seed=0, labels=["yes", "no"]) == shots
    assert few_shot(data.train, 0, seed=0) == []


def test_held_out_set_and_seeded_cap(tmp_path: Path) -> None:
    cfg = _config(tmp_path, max_examples=3, seed=5)
    data = load_eval_data(cfg, None)
    assert data.kind == "sft" and data.available == 5 and len(data.items) == 3
    assert [i.prompt for i in data.items] == sorted(
        (i.prompt for i in data.items), key=lambda p: int(str(p).split()[1])
    )
    assert load_eval_data(cfg, None).items == data.items


def test_frozen_split_of_a_run_is_preferred(tmp_path: Path) -> None:
    rows = [{"prompt": f"m{i}", "completion": "x"} for i in range(20)]
    cfg = parse_config({"method": "sft", "data": {"train": _write(tmp_path / "t.jsonl", rows)}})
    run = tmp_path / "run"
    run.mkdir()
    _write(run / "eval.jsonl", [{"prompt": "frozen", "completion": "x"}])
    data = load_eval_data(cfg, run)
    assert [item.prompt for item in data.items] == ["frozen"]
    assert data.source.endswith("eval.jsonl")
    # Without the run directory, the same hash-based split is recomputed from the train file.
    assert load_eval_data(cfg, None).source.endswith("split)")


def test_pairs_and_conversations(tmp_path: Path) -> None:
    pairs = [{"prompt": "p", "chosen": "good", "rejected": "bad"}]
    cfg = parse_config(
        {"method": "dpo", "data": {"train": _write(tmp_path / "p.jsonl", pairs), "eval_split": 0}}
    )
    cfg.data.eval = cfg.data.train
    item = load_eval_data(cfg, None).items[0]
    assert (item.reference, item.rejected) == ("good", "bad")
    chats = [
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "bye"},
                {"role": "assistant", "content": "see you"},
            ]
        }
    ]
    cfg = parse_config({"method": "sft", "data": {"train": _write(tmp_path / "c.jsonl", chats)}})
    cfg.data.eval = cfg.data.train
    item = load_eval_data(cfg, None).items[0]
    assert item.reference == "see you" and len(item.prompt) == 3
