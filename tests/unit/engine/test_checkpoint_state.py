"""engine/checkpoint.py's loop state and engine/logging.py's metrics file: what resume relies on."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch

from tuneforge.engine.checkpoint import (
    LOOP_STATE_FILE,
    TrainerState,
    load_checkpoint,
    load_loop_state,
    save_checkpoint,
)
from tuneforge.engine.logging import METRICS_FILE, RunLogger, truncate_metrics
from tuneforge.errors import TuneforgeError


class Tiny(torch.nn.Module):
    """Stands in for a model: ``save_pretrained`` writes what `_load_weights` reads."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        self.config = type("Config", (), {"tie_word_embeddings": False})()

    def save_pretrained(self, folder: Path) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True)
        save_file(
            {k: v.contiguous() for k, v in self.state_dict().items()}, folder / "model.safetensors"
        )


def test_the_loop_state_round_trips_exactly(tmp_path: Path) -> None:
    model = Tiny()
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    loop_state = {
        "pending": [{"loss": 0.1 + 0.2, "units": 3, "metric_sums": {"kl": 1 / 3}, "tokens": 7}],
        "train_seconds": 1.25,
        "method": {"last_kl_train": math.pi},
    }
    state = TrainerState(global_step=4, epoch=1, batch_in_epoch=2, tokens_seen=99)
    folder = save_checkpoint(
        tmp_path, state, model, optimizer, scheduler, keep=None, loop_state=loop_state
    )
    assert load_loop_state(folder) == loop_state  # floats bit for bit (0.30000000000000004)
    assert load_checkpoint(folder, Tiny(), optimizer, scheduler) == state
    (folder / LOOP_STATE_FILE).unlink()
    assert load_loop_state(folder) == {}  # a checkpoint from before loop states existed
    (folder / LOOP_STATE_FILE).write_text("{broken")
    with pytest.raises(TuneforgeError, match=r"loop_state\.json: not valid JSON"):
        load_loop_state(folder)


def test_truncation_drops_later_records_and_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / METRICS_FILE
    path.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n{"step": 3, "lo')
    truncate_metrics(path, 1)
    assert path.read_text() == '{"step": 1, "loss": 2.0}\n'


def test_every_logged_record_is_in_the_file_at_once(tmp_path: Path) -> None:
    logger = RunLogger(tmp_path, total_steps=2, start_step=0, stream=io.StringIO())
    logger.log({"step": 1, "loss": 0.5})  # flushed: a SIGKILL now would not lose it
    lines = (tmp_path / METRICS_FILE).read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"step": 1, "loss": 0.5}]
    logger.sync()
    logger.close()
    logger.sync()  # closed: nothing to do
