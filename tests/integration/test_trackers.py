"""``train.report_to`` naming a tracker that is not installed fails at the start of training."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from transformers import PreTrainedTokenizerBase

from integration.test_engine import make_config
from tuneforge.errors import TuneforgeError
from tuneforge.models import build_tiny_model
from tuneforge.run.stage import train


@pytest.mark.parametrize(("tracker", "package"), [("wandb", "wandb"), ("mlflow", "mlflow")])
def test_a_tracker_that_is_not_installed_is_a_clear_error(
    tmp_path: Path,
    embedded_tokenizer: PreTrainedTokenizerBase,
    monkeypatch: pytest.MonkeyPatch,
    tracker: str,
    package: str,
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == package:
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    config = make_config(tmp_path, max_steps=1, report_to=[tracker])
    with pytest.raises(TuneforgeError) as caught:
        train(
            config, model=build_tiny_model(embedded_tokenizer, seed=0), tokenizer=embedded_tokenizer
        )
    message = str(caught.value)
    assert f"'{tracker}' is not installed" in message and f"pip install {package}" in message
    # Refused before the run folder is made, so the same command works once it is installed.
    assert not (tmp_path / "run").exists()
