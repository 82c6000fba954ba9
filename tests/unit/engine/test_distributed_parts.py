"""The single-process side of the distributed pieces: sharding, stand-ins, per-rank RNG files,
the main-only logger, the world-size check on resume and the sharded-launch refusals.

The collectives themselves run in tests/integration/test_distributed.py (torchrun, gloo).
"""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from accelerate.utils import DistributedType

from tuneforge.engine.batches import epoch_batches
from tuneforge.engine.checkpoint import TrainerState, load_checkpoint, rng_state, save_checkpoint
from tuneforge.engine.distributed import (
    refuse_live_reference_when_sharded,
    refuse_sharded_resume,
    run_on_main,
    shards_parameters,
    split_evenly,
)
from tuneforge.engine.logging import METRICS_FILE, RunLogger
from tuneforge.errors import TuneforgeError


def test_processes_take_alternate_micro_batches_and_the_short_ones_get_empty_stand_ins() -> None:
    whole = epoch_batches(9, 2, seed=5, epoch=0)  # 5 micro-batches: 2, 2, 2, 2, 1 items
    first = epoch_batches(9, 2, seed=5, epoch=0, process_index=0, num_processes=2)
    second = epoch_batches(9, 2, seed=5, epoch=0, process_index=1, num_processes=2)
    assert first == [whole[0], whole[2], whole[4]]
    assert second == [whole[1], whole[3], []]  # as many entries as process 0
    # Step k of 2 processes reads what step k of one process with batch_size 4 reads.
    single = epoch_batches(9, 4, seed=5, epoch=0)
    for step, items in enumerate(single):
        assert sorted(first[step] + second[step]) == sorted(items)


def test_split_evenly_covers_every_item_once_in_order() -> None:
    assert [list(split_evenly(7, 3, rank)) for rank in range(3)] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [list(split_evenly(1, 2, rank)) for rank in range(2)] == [[0], []]


def test_run_on_main_with_one_process_runs_the_action_and_raises_its_error() -> None:
    state = SimpleNamespace(num_processes=1, is_main_process=True)
    assert run_on_main(state, lambda: 42) == 42
    with pytest.raises(ValueError, match="boom"):
        run_on_main(state, lambda: (_ for _ in ()).throw(ValueError("boom")))


class Tiny(torch.nn.Module):
    """Stands in for a model: ``save_pretrained`` writes what the checkpoint loader reads."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        self.config = SimpleNamespace(tie_word_embeddings=False)

    def save_pretrained(self, folder: Path, state_dict: dict | None = None) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True)
        weights = state_dict if state_dict is not None else self.state_dict()
        save_file({k: v.contiguous() for k, v in weights.items()}, folder / "model.safetensors")


def test_each_process_resumes_with_its_own_random_state(tmp_path: Path) -> None:
    model = Tiny()
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    states = []
    for seed in (1, 2):  # what process 0 and process 1 hold at the checkpoint
        torch.manual_seed(seed)
        random.seed(seed)
        states.append(rng_state())
    full = {name: torch.full_like(value, 0.5) for name, value in model.state_dict().items()}
    folder = save_checkpoint(
        tmp_path,
        TrainerState(global_step=3),
        model,
        optimizer,
        scheduler,
        keep=None,
        rng_states=states,
        model_state=full,  # the gathered weights of a sharded model
    )
    assert sorted(p.name for p in folder.glob("rng*.pt")) == ["rng-rank1.pt", "rng.pt"]
    expected = {}
    for rank, seed in enumerate((1, 2)):
        torch.manual_seed(seed)
        random.seed(seed)
        expected[rank] = (torch.rand(3), random.random())
    for rank in (1, 0, 2):  # process 2 has no file of its own: it takes process 0's
        restored = Tiny()
        load_checkpoint(folder, restored, optimizer, scheduler, process_index=rank)
        assert torch.equal(restored.linear.weight, torch.full((2, 2), 0.5))
        draws = (torch.rand(3), random.random())
        want = expected[rank if rank < 2 else 0]
        assert torch.equal(draws[0], want[0])
        assert draws[1] == want[1]


def test_only_an_enabled_logger_writes_metrics_and_messages(tmp_path: Path) -> None:
    import io

    stream = io.StringIO()
    quiet = RunLogger(tmp_path, total_steps=2, start_step=0, stream=stream, enabled=False)
    quiet.log({"step": 1, "loss": 1.0})
    quiet.message("hello")
    quiet.sync()
    quiet.close()
    assert not (tmp_path / METRICS_FILE).exists()
    assert stream.getvalue() == ""
    loud = RunLogger(tmp_path, total_steps=2, start_step=0, stream=stream)
    loud.log({"step": 1, "loss": 1.0})
    loud.close()
    assert (tmp_path / METRICS_FILE).read_text() == '{"step": 1, "loss": 1.0}\n'


def sharded() -> SimpleNamespace:
    return SimpleNamespace(
        distributed_type=DistributedType.FSDP, state=SimpleNamespace(deepspeed_plugin=None)
    )


def test_fsdp_and_zero3_shard_parameters_ddp_and_zero2_do_not() -> None:
    assert shards_parameters(DistributedType.FSDP, None)
    assert shards_parameters(DistributedType.DEEPSPEED, 3)
    assert not shards_parameters(DistributedType.DEEPSPEED, 2)
    assert not shards_parameters(DistributedType.MULTI_GPU, None)
    assert not shards_parameters(DistributedType.MULTI_CPU, None)


def test_a_reference_computed_at_every_step_is_refused_under_fsdp() -> None:
    live = SimpleNamespace(name="dpo", needs_reference=True, precompute_reference=False)
    with pytest.raises(TuneforgeError, match=r"dpo\.precompute_ref: .*peft#1442") as error:
        refuse_live_reference_when_sharded(live, sharded())
    assert "set dpo.precompute_ref: true" in str(error.value)
    precomputed = SimpleNamespace(name="dpo", needs_reference=True, precompute_reference=True)
    refuse_live_reference_when_sharded(precomputed, sharded())  # computed before sharding
    ddp = SimpleNamespace(
        distributed_type=DistributedType.MULTI_GPU, state=SimpleNamespace(deepspeed_plugin=None)
    )
    refuse_live_reference_when_sharded(live, ddp)  # DDP switches the adapter off fine


def test_resuming_under_fsdp_is_refused_with_the_way_out(tmp_path: Path) -> None:
    refuse_sharded_resume(sharded(), None)  # nothing to resume from: a fresh start is fine
    with pytest.raises(TuneforgeError, match=r"step-2: resuming under FSDP .*under DDP"):
        refuse_sharded_resume(sharded(), tmp_path / "step-2")
