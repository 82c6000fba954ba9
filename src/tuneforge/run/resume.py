"""Whether a stage starts fresh or continues the run already in its folder, and with what config.

A run folder is *unfinished* when it holds a config.yaml but its manifest.json does not say
``"status": "finished"`` (a run that was interrupted, killed, or failed after its folder was
set up). Running the same command again continues it; ``--resume`` asks for that explicitly.
Either way the config given now must match the run's own in every key that changes the
training trajectory (`TRAJECTORY_EXEMPT` lists the ones that do not), and the training file
must still have the content hashed in the manifest: otherwise the resumed run would silently
mix two different runs. ``--force-config`` continues anyway and records the keys it overrode.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tuneforge.config import TuneforgeConfig, dump_config
from tuneforge.engine.checkpoint import latest_checkpoint
from tuneforge.errors import TuneforgeError
from tuneforge.io import file_sha256
from tuneforge.run.lock import LOCK_FILE
from tuneforge.target import RUN_CONFIG

__all__ = [
    "MANIFEST",
    "TRAJECTORY_EXEMPT",
    "RunState",
    "StartPlan",
    "plan_start",
    "run_state",
    "trajectory_differences",
]

MANIFEST = "manifest.json"

#: Config keys (dotted; a key covers everything under it) that do not change the weights a
#: run produces or the training losses it logs: where it is written, how often it logs,
#: evaluates and checkpoints, where it reports, and the `tuneforge eval` settings. Every
#: other key is part of the trajectory and must match for a run to be continued.
TRAJECTORY_EXEMPT: tuple[str, ...] = (
    "output",
    "train.logging_steps",
    "train.eval_steps",
    "train.save_steps",
    "train.save_minutes",
    "train.save_every_epoch",
    "train.save_total_limit",
    "train.report_to",
    "eval",
)


class RunState(enum.Enum):
    """What a run folder holds."""

    EMPTY = "empty"  # missing, or nothing but a lock file
    UNFINISHED = "unfinished"  # config.yaml, and no manifest saying "finished"
    FINISHED = "finished"
    FOREIGN = "foreign"  # files, but no tuneforge run


def _manifest(run_dir: Path) -> dict[str, Any]:
    try:
        document = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def run_state(run_dir: Path) -> RunState:
    """Classify ``run_dir`` (see `RunState`)."""
    if not run_dir.is_dir() or all(p.name == LOCK_FILE for p in run_dir.iterdir()):
        return RunState.EMPTY
    if not (run_dir / RUN_CONFIG).is_file():
        return RunState.FOREIGN
    finished = _manifest(run_dir).get("status") == "finished"
    return RunState.FINISHED if finished else RunState.UNFINISHED


def _flatten(document: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1}}`` → ``{"train.lr": 1}``; lists and scalars are leaves."""
    if not isinstance(document, Mapping) or (prefix and not document):
        return {prefix: document}
    out: dict[str, Any] = {}
    for key, value in document.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _exempt(key: str) -> bool:
    return any(key == name or key.startswith(name + ".") for name in TRAJECTORY_EXEMPT)


def trajectory_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``key (old → new)`` for every trajectory key whose value differs, sorted by key.

    Both documents are configs as YAML loads them (``dump_config`` text read back).
    """
    old, new = _flatten(saved), _flatten(current)
    missing = "(absent)"
    return [
        f"{key} ({old.get(key, missing)!r} → {new.get(key, missing)!r})"
        for key in sorted(set(old) | set(new))
        if not _exempt(key) and old.get(key, missing) != new.get(key, missing)
    ]


def _data_changed(run_dir: Path, cfg: TuneforgeConfig) -> list[str]:
    """``data.train (file contents changed)`` when the training file is not the one hashed."""
    recorded = _manifest(run_dir).get("data", {}).get("train", {}).get("sha256")
    if recorded is None or recorded == file_sha256(cfg.data.train):
        return []
    return [f"data.train (the contents of {cfg.data.train} changed since the run started)"]


@dataclass
class StartPlan:
    """How a stage starts: continue the run in the folder (``resume``) or a fresh one."""

    resume: bool
    #: Trajectory keys overridden with ``--force-config`` (recorded in the manifest).
    forced: list[str] = field(default_factory=list)
    #: A line for the user about what happens (None for a plain fresh start).
    message: str | None = None


def _refuse_differences(run_dir: Path, differences: list[str], *, resume: bool) -> TuneforgeError:
    flags = "--force-config" if resume else "--resume --force-config"
    return TuneforgeError(
        f"{run_dir} holds a run whose training config differs from this one in: "
        f"{'; '.join(differences)}. Continuing it would mix two runs. Run it with its own "
        f"config ({run_dir / RUN_CONFIG}) to continue it, add {flags} to continue it with "
        "this config anyway, or choose another directory with output=..."
    )


def _world_changed(run_dir: Path, world_size: int) -> list[str]:
    """``world size (2 → 1)`` when the run was launched with another number of processes.

    ``train.batch_size`` is per process, so another process count is another global batch
    (another trajectory). A manifest without ``world_size`` is from a single-process run.
    """
    recorded = _manifest(run_dir).get("world_size", 1)
    if recorded == world_size:
        return []
    return [
        f"world size ({recorded!r} → {world_size!r} processes; train.batch_size is per process)"
    ]


def plan_start(
    run_dir: Path,
    cfg: TuneforgeConfig,
    *,
    resume: bool,
    force_config: bool = False,
    world_size: int = 1,
) -> StartPlan:
    """Decide how a stage starts in ``run_dir`` (held under the run lock), or refuse.

    ``world_size`` is the number of processes of this launch; continuing a run launched with
    another number changes its global batch, so it is a difference like a config key.

    Raises TuneforgeError naming what is wrong and the flag that would continue.
    """
    state = run_state(run_dir)
    if state is RunState.EMPTY:
        if resume:
            raise TuneforgeError(f"{run_dir}: nothing to resume (the run directory is empty)")
        return StartPlan(resume=False)
    if state is RunState.FOREIGN:
        raise TuneforgeError(
            f"{run_dir} is not empty but holds no tuneforge run (no {RUN_CONFIG}); choose "
            "another directory with output=... (tuneforge never overwrites files silently)"
        )
    if state is RunState.FINISHED and not resume:
        raise TuneforgeError(
            f"{run_dir} already holds a run, and it finished; choose another directory with "
            "output=... (tuneforge never overwrites a run silently)"
        )
    saved = yaml.safe_load((run_dir / RUN_CONFIG).read_text(encoding="utf-8")) or {}
    current = yaml.safe_load(dump_config(cfg))
    differences = (
        trajectory_differences(saved, current)
        + _data_changed(run_dir, cfg)
        + _world_changed(run_dir, world_size)
    )
    if differences and not force_config:
        raise _refuse_differences(run_dir, differences, resume=resume)
    return StartPlan(resume=True, forced=differences, message=_resume_message(run_dir, resume))


def _resume_message(run_dir: Path, explicit: bool) -> str:
    checkpoint = latest_checkpoint(run_dir)
    how = "Resuming" if explicit else "Resuming the unfinished run (same training config)"
    if checkpoint is None:
        return f"{how} in {run_dir}: no checkpoint yet, so it starts again from step 0."
    return f"{how} in {run_dir} from {checkpoint.relative_to(run_dir)}."
