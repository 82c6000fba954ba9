"""Held-out check of a finished KTO run: did desirable replies gain on undesirable ones?

Run: ``python bench/kto_heldout.py RUN_DIR [--eval FILE] [--threads 2]``.

Loads the run's base model and its ``final/`` adapter, scores every held-out reply (the run's
``data.eval``, or its automatic ``eval.jsonl``, or ``--eval``) with the adapter on (tuned) and
off (base), and prints per class (desirable / undesirable):

* the mean implicit reward ``β·(log π_tuned(y|x) - log π_base(y|x))`` — 0 for the base model by
  definition, so the tuned model should give desirable replies a higher one than undesirable;
* the mean per-token log-prob under the base and the tuned model, whose desirable-minus-
  undesirable gap should widen.

With ``--generate N`` it also judges what the model *writes*: greedy replies, base (adapter off)
and tuned, to the first N held-out prompts that have a desirable reply, scored by the run's
``eval.checks`` (share passing all checks, and per check), by chrF against that desirable
reply, and by words per reply (README, "DPO and KTO: does the style show in what the model
writes?").

The last line is one JSON object with those numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit_json, set_threads  # noqa: E402


def score(run_dir: Path, eval_file: str | None) -> dict[str, Any]:
    """Per-class means of the implicit reward and of the per-token log-probs, base and tuned."""
    import torch
    from peft import PeftModel

    from tuneforge.config import load_config
    from tuneforge.data.load import load_examples
    from tuneforge.data.tokenize import TokenizeSettings, tokenize_examples
    from tuneforge.data.types import RecordKind
    from tuneforge.methods.kto.data import collate_scored
    from tuneforge.methods.logps import model_token_logps
    from tuneforge.models import adapter_disabled, load_model, load_tokenizer

    cfg = load_config(run_dir / "config.yaml")
    path = eval_file or cfg.data.eval or str(run_dir / "eval.jsonl")
    tokenizer = load_tokenizer(cfg.model.path)
    examples = load_examples(
        path, RecordKind.SCORED, columns=cfg.columns, score_threshold=cfg.kto.threshold
    )
    settings = TokenizeSettings(
        max_length=cfg.data.max_length,
        chat_template=cfg.data.chat_template,
        system_prompt=cfg.data.system_prompt,
    )
    items = tokenize_examples(examples, tokenizer, settings).items
    model = PeftModel.from_pretrained(load_model(cfg.model.path), str(run_dir / "final")).eval()
    rows: list[tuple[bool, float, float, int]] = []  # (desirable, tuned, base, tokens)
    with torch.no_grad():
        for start in range(0, len(items), 8):
            batch = collate_scored(
                items[start : start + 8],
                tokenizer.pad_token_id,
                max_length=cfg.data.max_length,
                with_kl=False,
            )
            inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
            tuned, mask = model_token_logps(model, inputs, batch["labels"])
            with adapter_disabled(model) as base_model:
                base, _ = model_token_logps(base_model, inputs, batch["labels"])
            for row in range(len(batch["desirable"])):
                rows.append(
                    (
                        bool(batch["desirable"][row]),
                        float(tuned[row].sum()),
                        float(base[row].sum()),
                        int(mask[row].sum()),
                    )
                )
    result: dict[str, Any] = {"run": str(run_dir), "eval": path, "beta": cfg.kto.beta}
    for name, flag in (("desirable", True), ("undesirable", False)):
        group = [r for r in rows if r[0] is flag]
        result[name] = {
            "n": len(group),
            "implicit_reward": sum(cfg.kto.beta * (t - b) for _, t, b, _ in group) / len(group),
            "base_logp_per_token": sum(b / n for _, _, b, n in group) / len(group),
            "tuned_logp_per_token": sum(t / n for _, t, _, n in group) / len(group),
        }
    good, bad = result["desirable"], result["undesirable"]
    result["reward_margin"] = good["implicit_reward"] - bad["implicit_reward"]
    result["base_logp_gap"] = good["base_logp_per_token"] - bad["base_logp_per_token"]
    result["tuned_logp_gap"] = good["tuned_logp_per_token"] - bad["tuned_logp_per_token"]
    return result


def judge_replies(replies: list[str], references: list[str], checks: list[Any]) -> dict[str, Any]:
    """All-checks pass rate, per-check pass rates, mean chrF and words per reply."""
    from tuneforge.evaluate.metrics.chrf import chrf
    from tuneforge.evaluate.metrics.rules import check_matrix

    matrix = check_matrix(checks, replies)  # one row per reply, one column per check
    n = len(replies)
    return {
        "n": n,
        "all_checks": sum(all(row) for row in matrix) / n,
        "checks": {rule.name: sum(row[j] for row in matrix) / n for j, rule in enumerate(checks)},
        "chrf": sum(chrf(r, ref) for r, ref in zip(replies, references, strict=True)) / n,
        "words": sum(len(r.split()) for r in replies) / n,
    }


def generations(
    run_dir: Path, eval_file: str | None, prompts: int, max_new_tokens: int
) -> dict[str, Any]:
    """Greedy replies of the base and the tuned model, judged by `judge_replies`."""
    from peft import PeftModel

    from tuneforge.config import load_config
    from tuneforge.data.load import load_examples
    from tuneforge.data.render import RenderSettings
    from tuneforge.data.types import RecordKind
    from tuneforge.evaluate.inference.generate import prompt_ids
    from tuneforge.evaluate.inference.scoring import generate_and_score
    from tuneforge.models import adapter_disabled, load_model, load_tokenizer

    cfg = load_config(run_dir / "config.yaml")
    path = eval_file or cfg.data.eval or str(run_dir / "eval.jsonl")
    examples = load_examples(
        path, RecordKind.SCORED, columns=cfg.columns, score_threshold=cfg.kto.threshold
    )
    chosen: dict[Any, Any] = {}
    for example in examples:  # the first desirable reply of each prompt is its reference
        if example.desirable:
            chosen.setdefault(example.prompt, example.completion)
    picked = list(chosen.items())[:prompts]
    tokenizer = load_tokenizer(cfg.model.path)
    render = RenderSettings(
        chat_template=cfg.data.chat_template, system_prompt=cfg.data.system_prompt
    )
    ids = [prompt_ids(prompt, tokenizer, render) for prompt, _ in picked]
    model = PeftModel.from_pretrained(load_model(cfg.model.path), str(run_dir / "final")).eval()
    references = [reply for _, reply in picked]
    tuned, _ = generate_and_score(model, tokenizer, ids, None, max_new_tokens=max_new_tokens)
    with adapter_disabled(model) as base_model:
        base, _ = generate_and_score(
            base_model, tokenizer, ids, None, max_new_tokens=max_new_tokens
        )
    assert tuned is not None and base is not None
    checks = list(cfg.eval.checks or [])
    return {
        "base": judge_replies(base, references, checks),
        "tuned": judge_replies(tuned, references, checks),
        "replies": [
            {"prompt": p, "base": b, "tuned": t}
            for (p, _), b, t in zip(picked, base, tuned, strict=True)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--eval", default=None, help="held-out file (default: the run's)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--generate", type=int, default=0, help="also judge greedy replies to N prompts"
    )
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args()
    set_threads(args.threads)
    result = score(args.run_dir, args.eval)
    if args.generate:
        result["generations"] = generations(
            args.run_dir, args.eval, args.generate, args.max_new_tokens
        )
        for side in ("base", "tuned"):
            judged = result["generations"][side]
            print(
                f"{side:5s} greedy replies: all checks {judged['all_checks']:.0%}  "
                f"chrF {judged['chrf']:.1f}  words/reply {judged['words']:.0f}  "
                f"{judged['checks']}"
            )
    for name in ("desirable", "undesirable"):
        group = result[name]
        print(
            f"{name:11s} n={group['n']:3d}  implicit reward {group['implicit_reward']:+.4f}  "
            f"log-prob/token base {group['base_logp_per_token']:.4f} "
            f"tuned {group['tuned_logp_per_token']:.4f}"
        )
    print(
        f"reward margin (desirable - undesirable): {result['reward_margin']:+.4f}; "
        f"log-prob/token gap base {result['base_logp_gap']:+.4f} → "
        f"tuned {result['tuned_logp_gap']:+.4f}"
    )
    emit_json(result)


if __name__ == "__main__":
    main()
