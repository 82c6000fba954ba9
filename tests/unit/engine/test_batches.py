"""engine/batches.py: which items a run reads, so short runs precompute only those."""

from __future__ import annotations

from tuneforge.engine.batches import epoch_batches, items_read


def test_a_run_inside_its_first_epoch_reads_the_first_micro_batches_of_the_order() -> None:
    order = epoch_batches(10, 2, seed=7, epoch=0)  # 5 micro-batches of 2
    read = items_read(10, 2, 1, seed=7, epochs=3, max_steps=2)
    assert read == sorted(order[0] + order[1])
    # Two steps of two accumulated micro-batches each: four micro-batches, eight items.
    read = items_read(10, 2, 2, seed=7, epochs=3, max_steps=2)
    assert read == sorted(order[0] + order[1] + order[2] + order[3])


def test_processes_share_the_epoch_order() -> None:
    order = epoch_batches(12, 2, seed=1, epoch=0)
    # Each of 2 processes takes every other micro-batch: one step reads micro-batches 0 and 1.
    assert items_read(12, 2, 1, seed=1, epochs=1, max_steps=1, num_processes=2) == sorted(
        order[0] + order[1]
    )
    assert epoch_batches(12, 2, seed=1, epoch=0, process_index=1, num_processes=2)[0] == order[1]


def test_fractional_epochs_and_whole_epochs() -> None:
    order = epoch_batches(10, 2, seed=3, epoch=0)
    # Half an epoch of 5 micro-batches is ceil(2.5) = 3 steps.
    assert items_read(10, 2, 1, seed=3, epochs=0.5, max_steps=None) == sorted(
        order[0] + order[1] + order[2]
    )
    assert items_read(10, 2, 1, seed=3, epochs=1, max_steps=None) is None
    assert items_read(10, 2, 1, seed=3, epochs=3, max_steps=5) is None  # exactly one epoch
