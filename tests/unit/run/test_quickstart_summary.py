"""The quickstart's sentence on early stopping."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_an_interrupted_quickstart_evaluates_nothing_and_exits_with_the_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import signal
    from types import SimpleNamespace

    from tuneforge.cli.commands import quickstart_command
    from tuneforge.run import quickstart as module

    run_dir = tmp_path / "run"
    stopped = SimpleNamespace(
        run_dir=run_dir, result=SimpleNamespace(interrupted=True, stop_signal=signal.SIGTERM)
    )
    monkeypatch.setattr(module, "train", lambda cfg, allow_pickle=False: stopped)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("a half-trained model must not be evaluated")

    monkeypatch.setattr(module, "evaluate_run", never)
    code = quickstart_command(None, tmp_path / "out", [])
    assert code == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert "interrupted and checkpointed; nothing was evaluated" in err
    assert f"tuneforge train {run_dir}/config.yaml" in err
