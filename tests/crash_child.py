"""A training process for the kill-and-resume tests (tests/integration/test_kill_resume.py).

``python crash_child.py CONFIG PROGRESS_DIR [SLOW_SAVE_STEP]`` trains CONFIG through
`tuneforge.run.stage.train` exactly as ``tuneforge train CONFIG`` does (the model and tokenizer
loaded from the config's ``model`` folder), and reports where it is for the parent to aim its
SIGKILL: ``PROGRESS_DIR/step`` holds the last finished optimizer step, and while the checkpoint
of step SLOW_SAVE_STEP is being written (model and optimizer saved, the rest not yet), the file
``PROGRESS_DIR/saving`` exists and the write pauses for a few seconds.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import tuneforge.engine.checkpoint as checkpoint
from tuneforge.config import load_config
from tuneforge.run.stage import train


def report(progress: Path, name: str, text: str) -> None:
    """Write ``progress/name`` whole (rename), so the parent never reads half a number."""
    temporary = progress / f".{name}"
    temporary.write_text(text)
    os.replace(temporary, progress / name)


def main() -> int:
    config, progress = Path(sys.argv[1]), Path(sys.argv[2])
    slow_step = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    progress.mkdir(parents=True, exist_ok=True)
    current = {"step": 0}
    rng_state = checkpoint.rng_state

    def slow_rng_state() -> dict[str, Any]:
        # Called inside the checkpoint's staging folder fill, after the weights are written.
        if current["step"] == slow_step:
            report(progress, "saving", str(slow_step))
            time.sleep(30)  # the parent kills the process during this pause
        return rng_state()

    checkpoint.rng_state = slow_rng_state

    def on_step(step: int, _window: Any) -> None:
        current["step"] = step
        report(progress, "step", str(step))

    # on_step runs after the step's checkpoint: mark the step as current before it saves.
    import tuneforge.engine.loop as loop

    after_step = loop._Runner._after_step

    def tracked_after_step(self: Any, state: Any, grad_norm: float, epoch_done: bool) -> None:
        current["step"] = state.global_step
        after_step(self, state, grad_norm, epoch_done)

    loop._Runner._after_step = tracked_after_step  # type: ignore[method-assign]
    outcome = train(load_config(config), on_step=on_step)
    report(progress, "done", str(outcome.result.state.global_step))
    return 0


if __name__ == "__main__":
    sys.exit(main())
