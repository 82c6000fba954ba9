"""Training logs: metrics.jsonl, trackers through accelerate, and the progress display.

The progress display is a rich bar (step/total, loss, tokens/s, ETA) on a terminal and plain
log lines otherwise, so CI logs and redirected output stay readable.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from tuneforge.errors import ConfigError
from tuneforge.io import append_line, read_jsonl, to_jsonl, write_text_atomic

METRICS_FILE = "metrics.jsonl"
# The import name and pip name of each tracker accelerate can report to.
TRACKER_PACKAGES: dict[str, tuple[str, str]] = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "wandb": ("wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow"),
}


def check_trackers(names: list[str]) -> None:
    """Fail before training when a tracker in ``train.report_to`` is not installed."""
    for name in names:
        module, package = TRACKER_PACKAGES[name]
        if importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"train.report_to: '{name}' is not installed; install it with "
                f"`pip install {package}` or remove it from report_to"
            )


def truncate_metrics(path: Path, last_step: int) -> None:
    """Drop records after ``last_step``, atomically: on resume they are logged again.

    A last line torn by a crash (half a JSON object) is dropped with them.
    """
    if not path.is_file():
        return
    records = read_jsonl(path, skip_invalid=True)
    kept = [record for record in records if record.get("step", 0) <= last_step]
    write_text_atomic(path, to_jsonl(kept))


def _clean(value: Any) -> Any:
    """JSON-safe numbers: floats rounded for readability, non-finite values as strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return value


class RunLogger:
    """Writes each logged record to metrics.jsonl and trackers, and shows progress.

    metrics.jsonl stays open for appending; every record is one line, flushed to the OS as
    soon as it is logged, so a killed run loses at most the line being written. A logger that
    is not ``enabled`` (every process but the main one of a distributed launch) writes and
    shows nothing, so one launch logs each record once.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        total_steps: int,
        start_step: int,
        tracker_log: Any = None,
        stream: TextIO | None = None,
        enabled: bool = True,
    ) -> None:
        self.path = run_dir / METRICS_FILE
        self.enabled = enabled
        self._file = self.path.open("a", encoding="utf-8") if enabled else None
        self.total_steps = total_steps
        self.tracker_log = tracker_log
        self.stream = stream or sys.stdout
        self.console = Console(file=self.stream)
        self.started = time.monotonic()
        self.start_step = start_step
        self.progress: Progress | None = None
        self.task_id: Any = None
        if enabled and self.console.is_terminal:
            self.progress = Progress(
                TextColumn("step {task.completed}/{task.total}"),
                BarColumn(),
                TextColumn("{task.fields[status]}"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.task_id = self.progress.add_task(
                "train", total=total_steps, completed=start_step, status=""
            )
            self.progress.start()

    def log(self, record: dict[str, Any]) -> None:
        """Append one record (it must hold ``step``) and show it."""
        if self._file is None:
            return
        record = {key: _clean(value) for key, value in record.items()}
        append_line(self._file, to_jsonl([record]))
        if self.tracker_log is not None:
            numbers = {k: v for k, v in record.items() if isinstance(v, (int, float))}
            self.tracker_log(numbers, step=record["step"])
        if self.progress is None:
            self.console.print(self._plain_line(record), highlight=False, soft_wrap=True)

    def advance(self, step: int, loss: float | None, tokens_per_s: float) -> None:
        """Move the progress bar to ``step``."""
        if self.progress is None:
            return
        status = f"loss {loss:.4f}  {tokens_per_s:,.0f} tok/s" if loss is not None else ""
        self.progress.update(self.task_id, completed=step, status=status)

    def message(self, text: str) -> None:
        """A line for the user, printed above the progress bar."""
        if not self.enabled:
            return
        self.console.print(text, highlight=False, soft_wrap=True)

    def sync(self) -> None:
        """Flush metrics.jsonl to disk (before a checkpoint that vouches for its records)."""
        if self._file is not None and not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close metrics.jsonl and stop the progress display."""
        if self._file is not None and not self._file.closed:
            self._file.close()
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _plain_line(self, record: dict[str, Any]) -> str:
        """``step 10/120 | loss 1.2345 | lr 1.9e-04 | ... | eta 3m12s``."""
        step = record["step"]
        parts = [f"step {step}/{self.total_steps}"]
        for key, value in record.items():
            if key in ("step", "epoch"):
                continue
            parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
        done = step - self.start_step
        if done > 0:
            remaining = (time.monotonic() - self.started) / done * (self.total_steps - step)
            parts.append(f"eta {int(remaining // 60)}m{int(remaining % 60):02d}s")
        return " | ".join(parts)
