"""Resumable checkpoints: model or adapter, optimizer, scheduler, RNG, data position, loop state.

``checkpoints/step-N/`` is written atomically, so the latest complete checkpoint is always a
valid resume point. The loop's own state (the logging window not yet written, the method's
running values such as KTO's last KL estimate) is kept in ``loop_state.json``, so a resumed
run writes the same weights and the same metrics.jsonl as an uninterrupted one.
"""

from __future__ import annotations

import json
import pickle
import random
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from tuneforge.errors import TuneforgeError
from tuneforge.io import write_dir_atomic

STATE_FILE = "trainer_state.json"
#: The loop's state besides the model: pending log window, method state (plain JSON values).
LOOP_STATE_FILE = "loop_state.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass
class TrainerState:
    """Where training stands: optimizer steps done and the next micro-batch to read."""

    global_step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens_seen: int = 0


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    """The folder of the checkpoint taken after optimizer step ``step``."""
    return run_dir / "checkpoints" / f"step-{step}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    found = [
        (int(match.group(1)), path)
        for path in root.iterdir()
        if (match := _STEP_DIR.match(path.name)) and (path / STATE_FILE).is_file()
    ]
    return [path for _, path in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The most recent complete checkpoint, or None."""
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


def save_checkpoint(
    run_dir: Path,
    state: TrainerState,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    *,
    keep: int | None,
    loop_state: dict[str, Any] | None = None,
    rng_states: Sequence[dict[str, Any]] | None = None,
    model_state: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``checkpoints/step-N`` atomically and prune all but the newest ``keep``.

    ``loop_state`` (JSON values; floats round-trip exactly) is stored as ``loop_state.json``
    and returned by `load_loop_state`. ``rng_states`` holds every process's `rng_state` in
    process order (default: this process's only): process 0's goes to ``rng.pt``, process
    ``r``'s to ``rng-rank{r}.pt``. ``model_state`` is the full state dict to save where the
    model holds only a shard of it (FSDP, ZeRO-3); None saves the model's own.
    """
    target = checkpoint_dir(run_dir, state.global_step)

    def fill(folder: Path) -> None:
        states = list(rng_states) if rng_states is not None else [rng_state()]
        if model_state is None:
            model.save_pretrained(folder / "model")
        else:
            model.save_pretrained(folder / "model", state_dict=model_state)
        torch.save(optimizer.state_dict(), folder / "optimizer.pt")
        torch.save(scheduler.state_dict(), folder / "scheduler.pt")
        for rank, rng in enumerate(states):
            torch.save(rng, folder / _rng_file(rank))
        (folder / LOOP_STATE_FILE).write_text(json.dumps(loop_state or {}) + "\n")
        (folder / STATE_FILE).write_text(json.dumps(asdict(state), indent=2) + "\n")

    write_dir_atomic(target, fill)
    if keep is not None:
        for old in list_checkpoints(run_dir)[:-keep]:
            # Renamed first, so a crash during the deletion never leaves a partial folder
            # that still looks like a checkpoint (a dot name is a leftover, cleaned later).
            doomed = old.with_name(f".{old.name}.pruned")
            shutil.rmtree(doomed, ignore_errors=True)
            old.rename(doomed)
            shutil.rmtree(doomed, ignore_errors=True)
    return target


def load_checkpoint(
    folder: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    *,
    process_index: int = 0,
) -> TrainerState:
    """Restore everything saved by ``save_checkpoint`` into live objects.

    Process ``process_index`` takes its own RNG state (process 0's where the checkpoint has
    none for it).
    """
    _load_weights(folder / "model", model)
    optimizer.load_state_dict(_load_tensors(folder / "optimizer.pt"))
    scheduler.load_state_dict(_load_tensors(folder / "scheduler.pt"))
    own = folder / _rng_file(process_index)
    _set_rng_state(_load_tensors(own if own.is_file() else folder / _rng_file(0)))
    return TrainerState(**json.loads((folder / STATE_FILE).read_text()))


def load_loop_state(folder: Path) -> dict[str, Any]:
    """The ``loop_state`` saved with a checkpoint ({} for a checkpoint from before it existed)."""
    path = folder / LOOP_STATE_FILE
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TuneforgeError(
            f"{path}: not valid JSON ({exc}); delete this checkpoint to resume from an earlier one"
        ) from exc
    if not isinstance(document, dict):
        raise TuneforgeError(f"{path}: expected a JSON object; delete this checkpoint")
    return document


def _load_tensors(path: Path) -> Any:
    """Load a checkpoint file that must hold only tensors and plain values, never code.

    ``weights_only=True`` refuses any pickled object other than tensors, numbers, strings and
    containers of them, so a tampered file cannot run code when a run is resumed.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise TuneforgeError(
            f"{path}: refused to load: it holds more than plain tensors and values "
            "(a tampered or foreign file could run code when loaded); "
            "delete this checkpoint to resume from an earlier one"
        ) from exc


def _load_weights(folder: Path, model: torch.nn.Module) -> None:
    """Load adapter weights (peft) or full weights saved by ``save_pretrained``."""
    adapter_file = folder / "adapter_model.safetensors"
    if adapter_file.is_file():
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(adapter_file))
        return
    weights = load_file(folder / "model.safetensors")
    missing, unexpected = model.load_state_dict(weights, strict=False)
    tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise RuntimeError(
            f"checkpoint {folder} does not match the model "
            f"(missing {sorted(set(missing) - tied)[:3]}, unexpected {unexpected[:3]})"
        )


def _rng_file(process_index: int) -> str:
    """The RNG file of one process: ``rng.pt`` for process 0 (and single-process runs)."""
    return "rng.pt" if process_index == 0 else f"rng-rank{process_index}.pt"


def rng_state() -> dict[str, Any]:
    """Every random generator the loop draws from (dropout, shuffling), on this process."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators saved by ``rng_state``."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
