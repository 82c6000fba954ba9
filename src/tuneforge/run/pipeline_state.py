"""What a pipeline records about its stages: pipeline.json, config hashes, merged models.

`StageRecord` is a stage's line in pipeline.json; `stage_hash` decides whether a stage is
unchanged (skipped), and `write_merged` leaves the model the next stage trains from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tuneforge.config import TuneforgeConfig
from tuneforge.errors import TuneforgeError
from tuneforge.io import file_sha256, read_input_file, write_dir_atomic
from tuneforge.models import is_adapter_folder, load_tokenizer, merged_model
from tuneforge.run.resume import TRAJECTORY_EXEMPT
from tuneforge.safe_loading import SAFE, LoadPolicy

STATE_FILE = "pipeline.json"
MERGED_DIR = "merged"
#: Bumped when what a hash covers changes, so old pipeline folders retrain rather than mix.
HASH_VERSION = 1


@dataclass
class StageRecord:
    """A stage's line in pipeline.json."""

    name: str
    method: str
    status: str = "pending"
    """pending, running, finished, skipped, interrupted or failed."""
    config_hash: str | None = None
    input_hashes: dict[str, str | None] = field(default_factory=dict)
    trained_from: str | None = None
    run_dir: str | None = None
    model_dir: str | None = None
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None
    """Wall time of this invocation's work on the stage (0 when skipped)."""
    train_seconds: float | None = None
    """Wall time spent training the stage, summed over the attempts a resume continued."""
    global_step: int | None = None
    error: str | None = None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_state(output: Path) -> dict[str, Any]:
    """The previous pipeline.json (empty when there is none, or it cannot be read)."""
    path = output / STATE_FILE
    try:
        state = json.loads(read_input_file(path, what=STATE_FILE, default_mb=16))
    except (OSError, ValueError, TuneforgeError):
        return {}
    return state if isinstance(state, dict) else {}


def stage_hash(
    cfg: TuneforgeConfig, trained_from: str, train_input: str | None
) -> tuple[str, dict[str, str | None]]:
    """The stage's config hash and its input hashes.

    Covers the resolved config except what the pipeline sets (``model``, ``output``, the data
    paths) and the keys that change no weights (`run.resume.TRAJECTORY_EXEMPT`: the evaluation
    settings, logging and checkpoint intervals; the other methods' sections), plus the inputs'
    contents and ``trained_from`` (the base model's name, or the previous stage's hash).
    """
    config = cfg.resolved().model_dump(mode="json")
    # Keys that change no weights (where the run is written, how often it logs and saves,
    # the evaluation settings: `TRAJECTORY_EXEMPT`) and the paths the pipeline sets.
    # The other methods' sections are ignored by this stage: a new default there is no change.
    others = [name for name in cfg.registry if name != cfg.method]
    for dotted in (*TRAJECTORY_EXEMPT, *others, "model", "data.train", "data.eval"):
        *parents, last = dotted.split(".")
        section = config
        for key in parents:
            section = section.get(key, {})
        section.pop(last, None)
    inputs = {"train": train_input, "eval": file_sha256(cfg.data.eval)}
    payload = {"version": HASH_VERSION, "config": config, "from": trained_from, "inputs": inputs}
    return sha256_text(json.dumps(payload, sort_keys=True)), inputs


def write_merged(
    final_dir: Path, base_name: str, target: Path, *, policy: LoadPolicy = SAFE
) -> Path:
    """The stage's trained model as one plain folder (adapter merged), written atomically.

    A full fine-tune's ``final/`` already is one: it is used as it is. ``policy``: the
    stage's loading rules (`safe_loading`).
    """
    if not is_adapter_folder(final_dir):
        return final_dir
    model = merged_model(final_dir, base_name, policy=policy)
    has_tokenizer = (final_dir / "tokenizer_config.json").is_file()
    tokenizer = load_tokenizer(str(final_dir) if has_tokenizer else base_name, policy=policy)

    def fill(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    write_dir_atomic(target, fill)
    return target
