"""The retrieval baseline: each request shown with the train examples most similar to it.

``baseline+retrieval`` is context engineering done well: the base model, the full prompt, and
for every held-out request the ``eval.retrieval_k`` train examples whose requests are most
similar to it, as earlier chat turns. Fine-tuning has to beat this, not only a fixed few-shot.

Similarity is BM25 (Robertson et al., "Okapi at TREC-3", 1994; Lucene's variant, k1=1.5,
b=0.75, as `bm25s` computes it) over the request's lower-cased words, Lucene's 33 English
stopwords left out. Only the request is indexed (a string prompt, or the text of its user
turns), never the answer: at inference time the answer is what is unknown.

The shots run from least to most similar, so the closest example sits right before the question:
models lean towards the answers nearest the end of a prompt (the recency bias of Zhao et al.,
2021, "Calibrate Before Use"), so that place goes to the most relevant example, as in the
"reversed" order of Liu et al., 2022 ("What Makes Good In-Context Examples for GPT-3?").
Ties keep file order.

No leakage: only train records are indexed, and a train record whose request is, up to case and
spacing, the request of a held-out example is left out too, so a duplicated row cannot hand the
model its own reference answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tuneforge.data.types import Example, Text
from tuneforge.evaluate.heldout import shot_pair

#: The variant's name in ``eval.variants`` and eval.json.
RETRIEVAL_VARIANT = "baseline+retrieval"
#: How similarity is computed (eval.json ``variants.baseline+retrieval.retrieval.method``).
METHOD = "bm25"

Shot = tuple[Text, str]
_WORD = re.compile(r"\w+")


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def request_text(prompt: Text) -> str:
    """The text a request is matched on: a string as is, or its user turns joined.

    System turns are left out: they are instructions, the same for many requests, not what
    this request asks.
    """
    if isinstance(prompt, str):
        return prompt
    return "\n".join(m.get("content", "") for m in prompt if m.get("role") == "user")


def words(text: str, stopwords: frozenset[str]) -> list[str]:
    """The lower-cased words of ``text`` (letters, digits, underscores), stopwords removed."""
    return [w for w in _WORD.findall(text.lower()) if w not in stopwords]


def _normalised(text: str) -> str:
    """A request up to case and spacing, to recognise a duplicate of a held-out request."""
    return " ".join(text.split()).casefold()


class ExampleIndex:
    """A BM25 index over the requests of train examples that have a good answer to show.

    Records without one (a scored record labelled undesirable, a conversation without an
    assistant turn) are not indexed; pairs show their chosen reply. ``nearest`` returns
    positions in the ``train`` sequence the index was built from.
    """

    def __init__(self, train: Sequence[Example], *, exclude: Iterable[Text] = ()) -> None:
        """Index ``train``, leaving out records whose request equals one of ``exclude``."""
        self._stopwords = _stopwords()
        banned = {_normalised(request_text(prompt)) for prompt in exclude}
        self.positions: list[int] = []
        self.shots: list[Shot] = []
        self.origins: list[str] = []
        self.excluded = 0
        for position, example in enumerate(train):
            pair = shot_pair(example)
            if pair is None:
                continue
            if _normalised(request_text(pair[0])) in banned:
                self.excluded += 1
                continue
            self.positions.append(position)
            self.shots.append(pair)
            self.origins.append(str(example.origin))
        corpus = [words(request_text(request), self._stopwords) for request, _ in self.shots]
        self._bm25: Any | None = None
        if any(corpus):
            import bm25s

            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)

    def __len__(self) -> int:
        return len(self.shots)

    def scores(self, request: str) -> np.ndarray:
        """BM25 score of every indexed example for ``request``, (N,) float32; 0: no shared word."""
        query = words(request, self._stopwords)
        if self._bm25 is None or not query:
            return np.zeros(len(self.shots), dtype=np.float32)
        ids = self._bm25.get_tokens_ids(query)
        if not ids:
            return np.zeros(len(self.shots), dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)

    def ranked(self, request: str, k: int) -> list[int]:
        """Indices into ``self.shots`` of the ``k`` best matches, most similar first.

        Ties (examples sharing no word with the request among them) keep file order, so an
        empty request gets the first ``k`` examples; fewer than ``k`` examples give them all.
        """
        if k <= 0:
            return []
        order = np.argsort(-self.scores(request), kind="stable")
        return [int(i) for i in order[:k]]

    def nearest(self, request_text: str, k: int) -> list[int]:
        """Positions in ``train`` of the ``k`` examples most similar to ``request_text``,
        most similar first."""
        return [self.positions[i] for i in self.ranked(request_text, k)]


@dataclass(frozen=True)
class Retrieved:
    """The shots chosen for one request, in prompt order (most similar last)."""

    shots: list[Shot]
    sources: list[str]
    """Where each shot came from (``file:line``), in the same order."""
    dropped: int
    """Least similar shots left out so the prompt fits the model's context."""


@dataclass
class RetrievedShots:
    """Shots per request for a variant: the ``k`` nearest, fitted to the model's context.

    ``fits(prompt, shots)`` says whether the rendered prompt with those shots leaves the model
    room to answer; while it does not, the least similar shot is dropped. Choices are cached
    per request, so the prompt and every scored reply of one request see the same shots.
    """

    index: ExampleIndex
    k: int
    fits: Callable[[Text, list[Shot]], bool] | None = None
    _cache: dict[str, Retrieved] = field(default_factory=dict, repr=False, compare=False)

    def __call__(self, prompt: Text) -> list[Shot]:
        """The shots to show before ``prompt``, least similar first."""
        return self.choose(prompt).shots

    def choose(self, prompt: Text) -> Retrieved:
        """The shots for ``prompt`` with their sources and how many were dropped to fit."""
        key = repr(prompt)
        if key not in self._cache:
            self._cache[key] = self._choose(prompt)
        return self._cache[key]

    def _choose(self, prompt: Text) -> Retrieved:
        ranked = self.index.ranked(request_text(prompt), self.k)[::-1]
        dropped = 0
        while ranked and self.fits is not None:
            if self.fits(prompt, [self.index.shots[i] for i in ranked]):
                break
            ranked = ranked[1:]
            dropped += 1
        return Retrieved(
            [self.index.shots[i] for i in ranked], [self.index.origins[i] for i in ranked], dropped
        )

    def summary(self, prompts: Sequence[Text]) -> dict[str, Any]:
        """What eval.json records about the retrieval over the held-out ``prompts`` (in order)."""
        chosen = [self.choose(prompt) for prompt in prompts]
        return {
            "method": METHOD,
            "k": self.k,
            "indexed_examples": len(self.index),
            "excluded_duplicates": self.index.excluded,
            "shots_per_request": sum(len(c.shots) for c in chosen) / max(len(chosen), 1),
            "requests_with_dropped_shots": sum(1 for c in chosen if c.dropped),
            "dropped_shots": sum(c.dropped for c in chosen),
            "sources": [c.sources for c in chosen],
        }


def context_limit(model: Any, tokenizer: Any) -> int | None:
    """The most tokens ``model`` takes: its position embeddings, or the tokenizer's own limit.

    None when neither says (tokenizers without a limit report a huge placeholder).
    """
    limits = [getattr(getattr(model, "config", None), "max_position_embeddings", None)]
    limits.append(getattr(tokenizer, "model_max_length", None))
    known = [int(n) for n in limits if isinstance(n, int) and 0 < n < 10**7]
    return min(known) if known else None
