"""``tuneforge export``: a run's trained model as files other tools serve, verified equal.

`export_run` writes into ``out``, always, the merged model as a Hugging Face folder
(`hf.py`); with ``gguf`` also ``model.gguf`` (`gguf.py`); with ``ollama`` also a ``Modelfile``
(`ollama.py`). Then it reloads every export the way users load it and compares it with the
run's own model on a sample of held-out prompts (`verify.py`), and writes ``export.json``.
Everything is written into a temporary folder and renamed to ``out`` when complete.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneforge.config import TuneforgeConfig, load_config
from tuneforge.data.render import RenderSettings, uses_chat_template
from tuneforge.errors import TuneforgeError
from tuneforge.evaluate.heldout import load_eval_data, to_item
from tuneforge.evaluate.variants import tuned_system_prompt
from tuneforge.export.gguf import GGUF_FILE, check_architecture, check_gguf_type, write_gguf
from tuneforge.export.hf import export_tokenizer, stop_token_ids, write_hf
from tuneforge.export.ollama import MODELFILE, modelfile
from tuneforge.export.template import stop_tokens, turn_format
from tuneforge.export.verify import (
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_SAMPLES,
    FormatCheck,
    ReferenceAnswers,
    compare_export,
    encode_prompts,
    reference_answers,
    verdict,
)
from tuneforge.io import write_dir_atomic, write_json_atomic, write_text_atomic
from tuneforge.models import (
    is_adapter_folder,
    load_adapter,
    load_model,
    load_tokenizer,
    merged_model,
)
from tuneforge.safe_loading import SAFE, LoadPolicy
from tuneforge.target import FINAL_DIR, RUN_CONFIG

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from tuneforge.data.types import Text

EXPORT_FILE = "export.json"
FILE_PURPOSES = {
    "config.json": "model architecture (transformers, vLLM, TGI)",
    "model.safetensors": "merged weights (model-0000N-of-M.safetensors when sharded)",
    "generation_config.json": "greedy decoding and the token ids that end a reply",
    "tokenizer.json": "the tokenizer",
    "tokenizer_config.json": "tokenizer settings and special tokens",
    "chat_template.jinja": "the chat template the model was trained with",
    GGUF_FILE: "weights, tokenizer and chat template for llama.cpp and Ollama",
    MODELFILE: "ollama create NAME -f Modelfile",
    EXPORT_FILE: "what was exported and the parity check",
}
Progress = Callable[[str], None]


@dataclass
class ExportResult:
    """Where the export went, what it holds, and how it compared with the run's model."""

    out: Path
    document: dict[str, Any]
    checks: list[FormatCheck] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """True when verification ran."""
        return bool(self.checks)

    @property
    def passed(self) -> bool:
        """True unless a verified format differs beyond its tolerance."""
        return all(check.passed for check in self.checks)

    @property
    def verdict(self) -> str:
        """The one-line verdict printed by the CLI."""
        return verdict(self.checks) if self.checks else "export written (verification skipped)"


@dataclass
class _Run:
    """What export needs to know about a run."""

    run_dir: Path
    final: Path
    cfg: TuneforgeConfig
    tokenizer: PreTrainedTokenizerBase
    settings: RenderSettings
    chat: bool
    policy: LoadPolicy = SAFE

    @property
    def is_adapter(self) -> bool:
        return is_adapter_folder(self.final)


def _purpose(name: str) -> str:
    """What a written file is for (export.json lists them)."""
    if name in FILE_PURPOSES:
        return FILE_PURPOSES[name]
    return FILE_PURPOSES["model.safetensors"] if ".safetensors" in name else ""


def _open_run(run_dir: Path, *, allow_pickle: bool = False) -> _Run:
    """The run's config, final/ and tokenizer; a clear error for anything missing."""
    if not (run_dir / RUN_CONFIG).is_file():
        raise TuneforgeError(
            f"{run_dir}: not a run directory (no {RUN_CONFIG}); pass the directory written by "
            "`tuneforge train`"
        )
    final = run_dir / FINAL_DIR
    if not final.is_dir():
        raise TuneforgeError(
            f"{run_dir}: no trained model to export (no final/ folder): the run has not "
            "finished; continue it with `tuneforge train CONFIG --resume`"
        )
    cfg = load_config(run_dir / RUN_CONFIG)
    policy = LoadPolicy.of(cfg, allow_pickle=allow_pickle)
    has_tokenizer = (final / "tokenizer_config.json").is_file()
    tokenizer = load_tokenizer(str(final) if has_tokenizer else cfg.model.path, policy=policy)
    settings = RenderSettings(cfg.data.chat_template, tuned_system_prompt(cfg))
    chat = uses_chat_template(tokenizer, settings)
    return _Run(run_dir, final, cfg, tokenizer, settings, chat, policy)


def _check_out(out: Path, run_dir: Path) -> None:
    """Refuse to replace a folder that is not an earlier export (or that holds the run)."""
    target, run = out.resolve(), run_dir.resolve()
    if target == run or target in run.parents:
        raise TuneforgeError(f"--out {out}: would replace the run directory; choose another")
    if target.is_file():
        raise TuneforgeError(f"--out {out}: is a file; choose a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / EXPORT_FILE).is_file():
        raise TuneforgeError(
            f"--out {out}: the folder is not empty and holds no earlier export; choose an "
            "empty or new folder (export replaces only an earlier export)"
        )


def sample_prompts(run: _Run, count: int) -> tuple[list[Text], str]:
    """Up to ``count`` held-out prompts of the run (its train prompts when none are held out)."""
    data = load_eval_data(run.cfg, run.run_dir)
    items = data.items or [i for i in map(to_item, data.train) if i is not None]
    source = data.source if data.items else f"{run.cfg.data.train} (no held-out set)"
    return [item.prompt for item in items[:count]], source


def _run_model(run: _Run) -> PreTrainedModel:
    """The run's own model as evaluation runs it: the base with its adapter, unmerged."""
    if run.is_adapter:
        base = load_model(run.cfg.model.path, policy=run.policy)
        return load_adapter(base, run.final, policy=run.policy)
    return load_model(str(run.final), policy=run.policy)


def _load_hf(folder: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The folder `write_hf` just wrote (safetensors, no code of its own), as users load it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(
        str(folder), dtype=torch.float32, **SAFE.model_kwargs()
    )
    return model, AutoTokenizer.from_pretrained(str(folder), **SAFE.tokenizer_kwargs())


def _load_gguf(folder: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """model.gguf through transformers' ``gguf_file=`` loader, alone in a folder: beside the
    HF tokenizer files transformers 5.24 mixes them in (and loses the GGUF's chat template)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory(prefix="tuneforge-gguf-") as alone:
        (Path(alone) / GGUF_FILE).symlink_to((folder / GGUF_FILE).resolve())
        model = AutoModelForCausalLM.from_pretrained(
            alone, gguf_file=GGUF_FILE, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(alone, gguf_file=GGUF_FILE)
    return model, tokenizer


def export_run(
    run_dir: str | Path,
    out: str | Path,
    *,
    gguf: str | None = None,
    ollama: bool = False,
    verify: bool = True,
    samples: int = DEFAULT_SAMPLES,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    progress: Progress | None = None,
    allow_pickle: bool = False,
) -> ExportResult:
    """Export the run in ``run_dir`` into ``out`` (see the module docstring).

    The run's models load from safetensors only unless ``allow_pickle`` (`LoadPolicy`).
    """
    say = progress or (lambda _message: None)
    run_dir, out = Path(run_dir), Path(out)
    gguf_type = check_gguf_type(gguf) if gguf else None
    if ollama and gguf_type is None:
        raise TuneforgeError("--ollama needs --gguf TYPE (Ollama serves the GGUF file)")
    run = _open_run(run_dir, allow_pickle=allow_pickle)
    _check_out(out, run_dir)
    if ollama and not run.chat:
        raise TuneforgeError(
            "--ollama: the run was trained on raw text (no chat template), which a Modelfile "
            "TEMPLATE cannot express; export without --ollama"
        )
    turns = turn_format(run.tokenizer) if run.chat and (ollama or gguf_type) else None
    stop_texts = stop_tokens(run.tokenizer, chat=run.chat)
    stop_ids = stop_token_ids(run.tokenizer, chat=run.chat)
    tokenizer = export_tokenizer(run.tokenizer, chat_template=run.chat)

    reference: ReferenceAnswers | None = None
    prompts: list[Text] = []
    source = None
    if verify:
        prompts, source = sample_prompts(run, samples)
        if not prompts:
            raise TuneforgeError(f"{run_dir}: no prompts to verify with; use --no-verify")
        say(f"Answering {len(prompts)} held-out prompts with the run's own model...")
        own = _run_model(run)
        pad = run.tokenizer.pad_token_id if run.tokenizer.pad_token_id is not None else stop_ids[0]
        reference = reference_answers(
            own,
            encode_prompts(prompts, run.tokenizer, run.settings),
            stop_ids=stop_ids,
            pad_id=pad,
            max_new_tokens=max_new_tokens,
        )
        del own
        gc.collect()

    say("Merging the adapter into the base model..." if run.is_adapter else "Loading the model...")
    model = merged_model(run.final, run.cfg.model.path, policy=run.policy)
    if gguf_type is not None:
        check_architecture(model.config)
    document: dict[str, Any] = {
        "run_dir": str(run_dir.resolve()),
        "base_model": run.cfg.model.path,
        "adapter_merged": run.is_adapter,
        "system_prompt": run.settings.system_prompt,
        "chat_template": run.chat,
        "stop_tokens": stop_texts,
        "stop_token_ids": stop_ids,
        "gguf_type": gguf_type,
    }
    checks: list[FormatCheck] = []

    def fill(folder: Path) -> None:
        nonlocal model
        written = write_hf(folder, model, tokenizer, stop_ids=stop_ids)
        say(f"Wrote the Hugging Face folder ({', '.join(written)})")
        if gguf_type is not None:
            add_bos = bool(turns.bos_text) if turns is not None else False
            write_gguf(
                folder / GGUF_FILE,
                model,
                tokenizer,
                gguf_type=gguf_type,
                name=run_dir.resolve().name,
                add_bos=add_bos,
                eot_token_id=stop_ids[0],
            )
            say(f"Wrote {GGUF_FILE} ({gguf_type})")
        if ollama:
            assert turns is not None
            text = modelfile(
                turns,
                system_prompt=run.settings.system_prompt,
                stop=stop_texts,
                context_length=int(model.config.max_position_embeddings),
                source=str(run_dir),
            )
            write_text_atomic(folder / MODELFILE, text)
        del model
        gc.collect()
        files = sorted(p.name for p in folder.iterdir())
        document["files"] = {name: _purpose(name) for name in [*files, EXPORT_FILE]}
        if reference is not None:
            loaders = [("hf", _load_hf)]
            if gguf_type is not None:
                loaders.append((f"gguf-{gguf_type}", _load_gguf))
            for name, load in loaders:
                say(f"Verifying the {name} export...")
                exported, exported_tokenizer = load(folder)
                checks.append(
                    compare_export(
                        name,
                        exported,
                        exported_tokenizer,
                        reference,
                        prompts=prompts,
                        settings=run.settings,
                        stop_ids=stop_ids,
                        max_new_tokens=max_new_tokens,
                    )
                )
                del exported
                gc.collect()
            document["verification"] = {
                "prompts_from": source,
                "prompts": len(prompts),
                "max_new_tokens": max_new_tokens,
                "formats": {check.format: check.as_dict() for check in checks},
                "passed": all(check.passed for check in checks),
                "verdict": verdict(checks),
            }
        else:
            document["verification"] = None
        write_json_atomic(folder / EXPORT_FILE, document)

    write_dir_atomic(out, fill)
    return ExportResult(out, document, checks)


__all__ = ["EXPORT_FILE", "ExportResult", "export_run"]
