"""A tampered checkpoint is refused on resume, and the code in it never runs."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import PreTrainedTokenizerBase

from integration.test_engine import make_config
from tuneforge.engine.checkpoint import list_checkpoints
from tuneforge.errors import TuneforgeError
from tuneforge.models import build_tiny_model
from tuneforge.run.stage import train


class Payload:
    """A pickle that writes a marker file when it is unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "ran"))


def test_a_pickle_payload_in_a_checkpoint_is_refused_and_never_runs(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    config = make_config(tmp_path, max_steps=4, save_steps=2)

    def interrupt(step: int, _: Any) -> None:
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    first = train(
        config,
        model=build_tiny_model(embedded_tokenizer, seed=0),
        tokenizer=embedded_tokenizer,
        on_step=interrupt,
    )
    assert first.result.interrupted
    [checkpoint] = list_checkpoints(tmp_path / "run")
    marker = tmp_path / "marker"
    for name in ("optimizer.pt", "scheduler.pt", "rng.pt"):
        original = checkpoint / name
        shutil.copy(original, tmp_path / "saved.pt")
        torch.save({"state": {}, "param_groups": [], "extra": Payload(marker)}, original)
        with pytest.raises(TuneforgeError) as caught:
            train(
                config,
                resume=True,
                model=build_tiny_model(embedded_tokenizer, seed=0),
                tokenizer=embedded_tokenizer,
            )
        message = str(caught.value)
        assert name in message and "refused" in message and "plain tensors" in message
        assert not marker.exists()
        shutil.copy(tmp_path / "saved.pt", original)
    resumed = train(
        config,
        resume=True,
        model=build_tiny_model(embedded_tokenizer, seed=0),
        tokenizer=embedded_tokenizer,
    )
    assert resumed.result.state.global_step == 4
    assert not marker.exists()


def test_train_refuses_a_pickle_only_base_model_unless_allow_pickle(
    tmp_path: Path,
    embedded_tokenizer: PreTrainedTokenizerBase,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import yaml

    from tuneforge.cli import train_command
    from tuneforge.config import dump_config

    base = tmp_path / "base"
    model = build_tiny_model(embedded_tokenizer, seed=0)
    model.config.save_pretrained(base)
    embedded_tokenizer.save_pretrained(base)
    torch.save(model.state_dict(), base / "pytorch_model.bin")
    document = yaml.safe_load(dump_config(make_config(tmp_path, max_steps=2)))
    document["model"] = str(base)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(document))

    assert train_command(config, [], resume=False) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {base}: tuneforge refuses pickle weights (pytorch_model.bin;")
    assert not (tmp_path / "run" / "final").exists()

    assert train_command(config, [], resume=False, allow_pickle=True) == 0
    err = capsys.readouterr().err
    assert f"warning: --allow-pickle: loading pickle weights from {base}/pytorch_model.bin" in err
    assert (tmp_path / "run" / "final" / "adapter_model.safetensors").is_file()
