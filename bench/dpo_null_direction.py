"""Which way one DPO step moves a field value on held-out rows (README, "Measured: json-extract").

Run: ``python bench/dpo_null_direction.py MERGED_SFT PAIRS EVAL [token_mean] [sum]``, e.g. with
``runs/pipeline-json-extract/stages/sft/merged``, ``runs/pipeline-json-extract/pairs/dpo.jsonl``
and ``examples/json-extract/eval.jsonl``.

With the policy equal to its reference (the start of a DPO stage), the DPO loss of the first 24
pairs is differentiated once per ``dpo.nll_norm``; the printed number is the directional
derivative, along one unit-norm descent step (what clipping to ``max_grad_norm`` 1 makes of the
step), of the mean log p(``null``) right after ``{"customer_name":`` on the held-out orders whose
reference names a customer. Positive: the step teaches ``null`` where a name is right.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch


def main(model_dir: str, pairs_file: str, eval_file: str, norms: list[str]) -> None:
    from tuneforge.data.load import load_examples
    from tuneforge.data.render import RenderSettings
    from tuneforge.data.tokenize import TokenizeSettings, tokenize_examples
    from tuneforge.data.types import RecordKind
    from tuneforge.evaluate.inference.generate import prompt_ids
    from tuneforge.methods.dpo import DPOMethod, DPOSection
    from tuneforge.models import load_model, load_tokenizer

    system = "Extract the order as JSON."
    tokenizer = load_tokenizer(model_dir)
    model = load_model(model_dir).float()
    pairs = load_examples(pairs_file, RecordKind.PAIR)[:24]
    items = tokenize_examples(pairs, tokenizer, TokenizeSettings(system_prompt=system)).items
    lines = Path(eval_file).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()][:40]
    named = [r for r in rows if json.loads(r["completion"])["customer_name"] is not None][:16]
    prefix = tokenizer('{"customer_name":', add_special_tokens=False)["input_ids"]
    null = tokenizer('{"customer_name": null', add_special_tokens=False)["input_ids"][len(prefix)]
    params = [p for p in model.parameters() if p.requires_grad]
    model.zero_grad()
    total = torch.zeros(())
    for row in named:
        ids = prompt_ids(row["prompt"], tokenizer, RenderSettings(system_prompt=system)) + prefix
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1].float()
        total = total + logits.log_softmax(-1)[null]
    held_out = total / len(named)
    held_out.backward()
    toward = [p.grad.detach().clone() for p in params]
    print(f"held-out mean log p(null | a name is right): {float(held_out.detach()):.3f}")
    for norm in norms:
        method = DPOMethod(DPOSection(nll_norm=norm))
        batch = method.collate(items, tokenizer.pad_token_id)
        with torch.no_grad():
            reference = method.reference_values(model, batch)
        model.zero_grad()
        output = method.step(model, batch, lambda _batch, ref=reference: ref)
        (output.loss_sum / len(items)).backward()
        grads = [p.grad.detach() for p in params]
        norm_value = torch.sqrt(sum((g.float() ** 2).sum() for g in grads))
        slope = -sum((g.float() * t.float()).sum() for g, t in zip(grads, toward, strict=True))
        print(
            f"{norm}: gradient norm {float(norm_value):.2f}; d log p(null)/d(unit step) "
            f"{float(slope / norm_value):+.4f}"
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:] or ["token_mean", "sum"])
