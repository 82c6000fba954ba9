"""The quickstart's sentence on early stopping."""

from __future__ import annotations

from tuneforge.run.quickstart import early_stopping_line


def test_the_line_names_the_stop_and_the_kept_step() -> None:
    stopped = {"best_step": 170, "stopped_step": 221, "checks": 13}
    assert early_stopping_line(stopped) == (
        "Early stopping ended training at step 221; the model of step 170 (lowest held-out "
        "loss) is the tuned one."
    )
    whole = {"best_step": 336, "stopped_step": None}
    assert early_stopping_line(whole) == (
        "Early stopping did not stop the run; the model of step 336 (lowest held-out loss) "
        "is the tuned one."
    )
    assert early_stopping_line(None) is None
    assert early_stopping_line({"enabled": False, "checks": 0}) is None
