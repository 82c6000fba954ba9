"""The retrieval baseline: BM25 neighbours, their order, leakage, length fitting, prompt ids."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerBase

from tuneforge.config import parse_config
from tuneforge.data.types import Origin, PairExample, ScoredExample, SFTExample
from tuneforge.evaluate.heldout import load_eval_data
from tuneforge.evaluate.inference.generate import prompt_ids
from tuneforge.evaluate.retrieval import (
    ExampleIndex,
    RetrievedShots,
    context_limit,
    request_text,
)
from tuneforge.evaluate.variants import (
    encode_prompt,
    encode_reply,
    retrieval_shots,
    variant_specs,
    with_shots,
)

#: A hand-made support inbox: request → team. Line numbers are index + 1.
INBOX = [
    ("Where is my parcel? The tracking page has not changed.", "shipping"),  # 0
    ("I was charged twice for one order.", "billing"),  # 1
    ("The app crashes when I open settings.", "technical"),  # 2
    ("My parcel arrived damaged and the box was open.", "shipping"),  # 3
    ("Please refund the double charge on my card.", "billing"),  # 4
    ("Settings page shows a blank screen after the update.", "technical"),  # 5
    ("Cancel my subscription at the end of the month.", "cancellation"),  # 6
    ("Tracking number for my parcel does not work.", "shipping"),  # 7
]


def _inbox() -> list[SFTExample]:
    return [
        SFTExample(Origin("inbox.jsonl", i + 1), prompt, answer)
        for i, (prompt, answer) in enumerate(INBOX)
    ]


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        # parcel+tracking+number (7), parcel+tracking (0), then parcel alone (3).
        ("My parcel tracking number is missing", [7, 0, 3]),
        # "charged" and "twice" only occur in 1; "charge" (4) is another word (no stemming).
        ("Charged twice!", [1, 0, 2]),
        ("settings crash", [2, 5, 0]),
        ("The settings page is blank", [5, 2, 0]),
        ("cancel subscription", [6, 0, 1]),
    ],
)
def test_nearest_picks_the_expected_neighbours(request_: str, expected: list[int]) -> None:
    # Where fewer than k examples share a word, the rest follow in file order.
    assert ExampleIndex(_inbox()).nearest(request_, 3) == expected


def test_bm25_score_is_lucene_bm25_by_hand() -> None:
    # Documents after stopword removal: ["charged", "twice", "order"] and ["refund", ...].
    index = ExampleIndex(
        [
            SFTExample(Origin("t", 1), "charged twice order", "billing"),
            SFTExample(Origin("t", 2), "refund double charge card", "billing"),
            SFTExample(Origin("t", 3), "app crashes", "technical"),
        ]
    )
    # Lucene BM25, k1 = 1.5, b = 0.75: idf = ln(1 + (N - df + .5) / (df + .5)),
    # score = idf · tf / (tf + k1 · (1 - b + b · |d| / avgdl)); N = 3, avgdl = 9 / 3 = 3.
    idf = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
    expected = idf * 1 / (1 + 1.5 * (0.25 + 0.75 * 3 / 3))
    scores = index.scores("twice")
    assert scores[0] == pytest.approx(expected, rel=1e-6)
    assert list(scores[1:]) == [0.0, 0.0]


def test_edge_cases_small_train_empty_request_and_no_index() -> None:
    index = ExampleIndex(_inbox())
    # Equal word counts, but 3 and 7 are shorter than 0 (6 words against 7 once stopwords are
    # gone), and BM25 favours the shorter; ties keep file order, as do all the zero scores.
    assert index.nearest("parcel", 50) == [3, 7, 0, 1, 2, 4, 5, 6]
    assert index.nearest("", 2) == [0, 1]  # no words: file order
    assert index.nearest("the and of", 2) == [0, 1]  # stopwords only
    assert index.nearest("parcel", 0) == []
    empty = ExampleIndex([])
    assert len(empty) == 0 and empty.nearest("parcel", 4) == []
    wordless = ExampleIndex([SFTExample(Origin("t", 1), "?!", "x")])
    assert wordless.nearest("anything", 4) == [0]


def test_requests_are_user_turns_and_only_good_answers_are_indexed() -> None:
    chat = [
        {"role": "system", "content": "parcel parcel parcel"},
        {"role": "user", "content": "invoice missing"},
    ]
    assert request_text(chat) == "invoice missing"
    train = [
        ScoredExample(Origin("k", 1), "parcel lost", "Sorry, lost.", 0.1, desirable=False),
        PairExample(Origin("k", 2), "parcel late", "We will check today.", "Not our problem."),
        SFTExample(Origin("k", 3), messages=[{"role": "user", "content": "hello"}]),
        SFTExample(Origin("k", 4), chat, "Resent the invoice."),
    ]
    index = ExampleIndex(train)
    assert index.positions == [1, 3] and index.origins == ["k:2", "k:4"]
    assert index.shots[0] == ("parcel late", "We will check today.")
    # The system turn's words are not the request's: "parcel" finds only the pair.
    assert index.nearest("parcel", 1) == [1]
    assert index.nearest("invoice", 1) == [3]


def test_held_out_requests_are_never_retrieved(tmp_path: Path) -> None:
    train = [{"prompt": p, "completion": a} for p, a in INBOX]
    # A held-out request duplicated in train (up to case and spacing) must not be retrieved.
    held = [{"prompt": "  the app CRASHES when I open settings. ", "completion": "technical"}]
    paths = {}
    for name, rows in (("train", train), ("eval", held)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        paths[name] = str(path)
    data = load_eval_data(parse_config({"method": "sft", "data": paths}), None)
    index = ExampleIndex(data.train, exclude=[item.prompt for item in data.items])
    assert index.excluded == 1 and 2 not in index.positions
    # Without its duplicate, the request shares one word each with 1 ("i"), 3 ("open") and
    # 5 ("settings"), equally rare: the shortest documents come first.
    assert index.nearest(str(data.items[0].prompt), 2) == [1, 3]


def test_shots_run_from_least_to_most_similar_and_drop_to_fit() -> None:
    index = ExampleIndex(_inbox())
    request = "My parcel tracking number is missing"
    shots = RetrievedShots(index, 3)
    chosen = shots.choose(request)
    assert chosen.sources == ["inbox.jsonl:4", "inbox.jsonl:1", "inbox.jsonl:8"]
    assert shots(request) == [(INBOX[i][0], INBOX[i][1]) for i in (3, 0, 7)]
    assert chosen.dropped == 0

    calls: list[int] = []

    def at_most_one(prompt: object, shown: list[tuple[object, str]]) -> bool:
        calls.append(len(shown))
        return len(shown) <= 1

    fitted = RetrievedShots(index, 3, at_most_one)
    assert fitted.choose(request).sources == ["inbox.jsonl:8"]  # the most similar is kept
    assert fitted.choose(request).dropped == 2 and calls == [3, 2, 1]  # cached after one try
    summary = fitted.summary([request, ""])
    assert {k: v for k, v in summary.items() if k != "sources"} == {
        "method": "bm25",
        "k": 3,
        "indexed_examples": 8,
        "excluded_duplicates": 0,
        "shots_per_request": 1.0,
        "requests_with_dropped_shots": 2,
        "dropped_shots": 4,
    }
    assert summary["sources"] == [["inbox.jsonl:8"], ["inbox.jsonl:1"]]


def _config(tmp_path: Path, **eval_section: object):  # type: ignore[no-untyped-def]
    path = tmp_path / "train.jsonl"
    path.write_text(
        "".join(json.dumps({"prompt": p, "completion": a}) + "\n" for p, a in INBOX),
        encoding="utf-8",
    )
    data = {"train": str(path), "system_prompt": "Route it.", "eval_split": 0}
    return parse_config({"method": "sft", "data": data, "eval": dict(eval_section)})


def test_retrieval_prompt_token_ids(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    cfg = _config(tmp_path, baseline_system_prompt="Name the team.", retrieval_k=2)
    index = ExampleIndex(load_eval_data(cfg, None).train)
    retrieved = retrieval_shots(cfg, index, embedded_tokenizer, None)
    [spec] = variant_specs(cfg, [], ["baseline+retrieval"], retrieved)
    assert spec.describe() == "base model + system prompt (3 words) + 2 retrieved examples"
    assert (spec.model, spec.few_shot) == ("base", 2)
    ids = encode_prompt("cancel my subscription", spec, embedded_tokenizer)
    text = (
        "<|im_start|>system\nName the team.<|im_end|>\n"
        f"<|im_start|>user\n{INBOX[3][0]}<|im_end|>\n<|im_start|>assistant\nshipping<|im_end|>\n"
        f"<|im_start|>user\n{INBOX[6][0]}<|im_end|>\n<|im_start|>assistant\ncancellation"
        "<|im_end|>\n<|im_start|>user\ncancel my subscription<|im_end|>\n<|im_start|>assistant\n"
    )
    assert embedded_tokenizer.decode(ids) == text
    assert ids == embedded_tokenizer(text, add_special_tokens=False)["input_ids"]
    # The question closes the prompt: <|im_start|>user\ncancel my subscription<|im_end|>\n...
    assert ids[-12:] == [1, 4093, 198, 37341, 957, 22047, 2, 198, 1, 520, 9531, 198]
    reply = encode_reply("cancel my subscription", "cancellation", spec, embedded_tokenizer)
    assert embedded_tokenizer.decode(reply) == "cancellation<|im_end|>\n"


def test_retrieval_drops_shots_that_overflow_the_context(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    cfg = _config(tmp_path, retrieval_k=2)
    index = ExampleIndex(load_eval_data(cfg, None).train)
    request = "cancel my subscription"
    render = variant_specs(cfg, [], ["baseline"])[0].render
    one_shot = len(prompt_ids(with_shots(request, [index.shots[6]]), embedded_tokenizer, render))
    retrieved = retrieval_shots(cfg, index, embedded_tokenizer, one_shot)
    chosen = retrieved.choose(request)
    assert (chosen.sources, chosen.dropped) == ([f"{tmp_path / 'train.jsonl'}:7"], 1)
    assert (
        retrieval_shots(cfg, index, embedded_tokenizer, one_shot - 1).choose(request).dropped == 2
    )


def test_retrieval_variant_needs_its_shots_and_context_limits(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    with pytest.raises(ValueError, match="baseline\\+retrieval variant needs its retrieved shots"):
        variant_specs(cfg, [], ["baseline", "baseline+retrieval"])

    class Config:
        max_position_embeddings = 2048

    class Model:
        config = Config()

    class Tokenizer:
        model_max_length = 10**30  # transformers' "no limit" placeholder

    assert context_limit(Model(), Tokenizer()) == 2048
    Tokenizer.model_max_length = 512
    assert context_limit(Model(), Tokenizer()) == 512
    assert context_limit(object(), object()) is None
