"""Held-out loss and metrics during training, and the methods' metric hook."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from accelerate import Accelerator

from tuneforge.data.tokenize import Tokenized
from tuneforge.engine.batches import indexed_batches
from tuneforge.methods.base import ReferenceLogps, TrainingMethod


@torch.no_grad()
def evaluate_loss(
    model: torch.nn.Module,
    method: TrainingMethod,
    items: Sequence[Tokenized],
    *,
    batch_size: int,
    pad_token_id: int,
    accelerator: Accelerator,
    reference: ReferenceLogps | None = None,
    indices: Sequence[int] | None = None,
) -> dict[str, float]:
    """Mean held-out loss (and method metrics) over ``items``, per unit, without dropout.

    Each batch carries ``index``: the items' positions in ``items`` (for a precomputed
    ``reference`` of this split). ``indices`` scores only those items (a fixed subset, for
    early stopping); their ``index`` stays their position in ``items``.
    """
    was_training = model.training
    model.eval()
    loss_sum, units = 0.0, 0
    metric_sums: dict[str, float] = {}
    chosen = list(items) if indices is None else [items[i] for i in indices]
    positions = torch.tensor(list(range(len(items))) if indices is None else list(indices))
    for batch in indexed_batches(method, chosen, batch_size, pad_token_id, accelerator.device):
        batch["index"] = positions[batch["index"].cpu()].to(batch["index"].device)
        with accelerator.autocast():
            output = method.step(model, batch, reference)
        loss_sum += float(output.loss_sum)
        units += method.count_units(batch)
        for name, value in output.metric_sums.items():
            metric_sums[name] = metric_sums.get(name, 0.0) + float(value)
    model.train(was_training)
    result = {"eval_loss": loss_sum / max(units, 1)}
    result.update({f"eval_{name}": value / max(units, 1) for name, value in metric_sums.items()})
    return finish_metrics(method, result)


def finish_metrics(method: TrainingMethod, record: dict[str, Any]) -> dict[str, Any]:
    """The method's optional ``finish_metrics`` hook over per-unit means (else unchanged).

    Lets a method log ratios of two sums exactly (KTO: per-class reward means).
    """
    finish = getattr(method, "finish_metrics", None)
    return finish(record) if finish is not None else record
