"""BM25 or embeddings for the retrieval baseline? Measured on the shipped examples.

Run: ``python bench/retrieval_choice.py [--k 4] [--threads 1] [--max-tokens 256]``.

For every held-out request of support-triage, json-extract and brand-voice, the ``k`` train
examples most similar to it are retrieved three ways:

* ``bm25``: `tuneforge.evaluate.retrieval.ExampleIndex` (what ``baseline+retrieval`` uses);
* ``embedding``: cosine similarity of the embedded model's (SmolLM2-135M) last hidden states,
  mean-pooled over the request's tokens (no chat template, at most ``--max-tokens``);
* ``random``: a seeded random choice, the floor a plain few-shot prompt stands on.

and scored by how much the retrieved answers already look like the held-out reference: the share
with the same label (support-triage), the share of the reference's JSON fields with an equal
value (json-extract) and sentence chrF against the reference (json-extract, brand-voice's chosen
reply) — for the top-1 and averaged over the top-``k``. The time to build the index (embed
every train request) and to answer every query is printed too. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit_json, set_threads  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIGS = {
    "support-triage": EXAMPLES / "support-triage" / "sft.yaml",
    "json-extract": EXAMPLES / "json-extract" / "sft.yaml",
    "brand-voice": EXAMPLES / "brand-voice" / "dpo.yaml",
}
Ranker = Callable[[str, int], list[int]]


def field_match(answer: str, reference: str) -> float:
    """Share of the reference object's fields whose value the answer has too (0 if not JSON)."""
    try:
        got, want = json.loads(answer), json.loads(reference)
    except json.JSONDecodeError:
        return 0.0
    if not isinstance(got, dict) or not isinstance(want, dict) or not want:
        return 0.0
    return sum(1 for key, value in want.items() if got.get(key) == value) / len(want)


def measures(name: str) -> dict[str, Callable[[str, str], float]]:
    """How a retrieved answer is scored against the reference, per example."""
    from tuneforge.evaluate.metrics.chrf import chrf

    if name == "support-triage":
        return {"same_label": lambda a, r: float(a.strip() == r.strip())}
    if name == "json-extract":
        return {"field_match": field_match, "chrf": chrf}
    return {"chrf": chrf}


class Embedder:
    """Mean-pooled last hidden states of the embedded model, L2-normalised."""

    def __init__(self, max_tokens: int) -> None:
        from tuneforge.models import load_model, load_tokenizer

        self.tokenizer = load_tokenizer("embedded")
        self.model = load_model("embedded")
        self.model.eval()
        self.max_tokens = max_tokens

    def __call__(self, texts: Sequence[str], batch: int = 16) -> np.ndarray:
        """(N, H) unit vectors, one per text."""
        import torch

        rows = []
        for start in range(0, len(texts), batch):
            chunk = [t or " " for t in texts[start : start + batch]]
            encoded = self.tokenizer(
                chunk,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                add_special_tokens=False,
            )
            with torch.no_grad():
                out = self.model(**encoded, output_hidden_states=True)
            hidden = out.hidden_states[-1]  # (B, T, H)
            mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            rows.append(torch.nn.functional.normalize(pooled.float(), dim=-1).numpy())
        return np.concatenate(rows)


def rankers(
    requests: list[str], held_out: list[str], k: int, embedder: Embedder
) -> dict[str, tuple[Ranker, float]]:
    """Each method's ranking function over the train ``requests``, with its build time (s)."""
    from tuneforge.data.types import Origin, SFTExample
    from tuneforge.evaluate.retrieval import ExampleIndex

    started = time.perf_counter()
    index = ExampleIndex([SFTExample(Origin("t", i), r, "x") for i, r in enumerate(requests)])
    bm25_build = time.perf_counter() - started

    started = time.perf_counter()
    train_vectors = embedder(requests)
    query_vectors = dict(zip(held_out, embedder(held_out), strict=True))
    embed_build = time.perf_counter() - started

    def by_embedding(request: str, top: int) -> list[int]:
        scores = train_vectors @ query_vectors[request]
        return [int(i) for i in np.argsort(-scores, kind="stable")[:top]]

    rng = random.Random(0)

    def at_random(_request: str, top: int) -> list[int]:
        return rng.sample(range(len(requests)), min(top, len(requests)))

    return {
        "bm25": (index.nearest, bm25_build),
        "embedding": (by_embedding, embed_build),
        "random": (at_random, 0.0),
    }


def measure_example(name: str, k: int, embedder: Embedder) -> dict[str, Any]:
    """Every method's retrieval quality and time on one example's held-out set."""
    from tuneforge.config import load_config
    from tuneforge.evaluate.heldout import load_eval_data, shot_pair
    from tuneforge.evaluate.retrieval import request_text

    cfg = load_config(CONFIGS[name])
    data = load_eval_data(cfg, None)
    pairs = [pair for pair in map(shot_pair, data.train) if pair is not None]
    requests = [request_text(prompt) for prompt, _ in pairs]
    answers = [answer for _, answer in pairs]
    queries = [request_text(item.prompt) for item in data.items]
    scorers = measures(name)
    result: dict[str, Any] = {"train": len(pairs), "held_out": len(queries)}
    for method, (rank, build) in rankers(requests, queries, k, embedder).items():
        started = time.perf_counter()
        ranked = [rank(query, k) for query in queries]
        query_s = time.perf_counter() - started
        row: dict[str, Any] = {"build_s": build, "query_ms": 1000 * query_s / len(queries)}
        for key, score in scorers.items():
            per_item = [
                [score(answers[i], item.reference) for i in r]
                for r, item in zip(ranked, data.items, strict=True)
            ]
            row[f"{key}@1"] = float(np.mean([values[0] for values in per_item]))
            row[f"{key}@{k}"] = float(np.mean([np.mean(values) for values in per_item]))
        result[method] = row
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    set_threads(args.threads)
    embedder = Embedder(args.max_tokens)
    results = {name: measure_example(name, args.k, embedder) for name in CONFIGS}
    for name, result in results.items():
        print(f"\n{name}: {result['train']} train, {result['held_out']} held-out")
        for method in ("bm25", "embedding", "random"):
            row = result[method]
            numbers = ", ".join(
                f"{key} {value:.3f}" if "_s" not in key and "_ms" not in key else ""
                for key, value in row.items()
            ).strip(", ")
            print(
                f"  {method:<9} {numbers}; build {row['build_s']:.2f} s, "
                f"query {row['query_ms']:.2f} ms"
            )
    emit_json(results)


if __name__ == "__main__":
    main()
