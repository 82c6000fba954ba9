"""Training and evaluation split and label the data in one place (`data.split.load_splits`).

With ``data.eval`` set and the KTO threshold automatic, the held-out file must be labelled by
the train file's threshold on both sides: its own scores would give another threshold.
"""

from __future__ import annotations

import json
from pathlib import Path

from tuneforge.config import parse_config
from tuneforge.evaluate.heldout import load_eval_data
from tuneforge.run.stage import load_train_eval


def write_scored(path: Path, scores: list[int]) -> Path:
    rows = [
        {"prompt": f"Question {i}?", "completion": f"Answer {i}.", "score": score}
        for i, score in enumerate(scores)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_eval_file_is_labelled_by_the_train_threshold_in_training_and_evaluation(
    tmp_path: Path,
) -> None:
    # Train scores 1..5: midpoint threshold 3. Held-out scores 4 and 5 alone would give 4.5,
    # which would make every 4 neutral (left out); under the train threshold all are desirable.
    train = write_scored(tmp_path / "train.jsonl", [1, 2, 3, 4, 5] * 4)
    held_out = write_scored(tmp_path / "eval.jsonl", [4, 5, 4, 5])
    cfg = parse_config({"method": "kto", "data": {"train": str(train), "eval": str(held_out)}})

    _, trained_on = load_train_eval(cfg)
    evaluated = load_eval_data(cfg, None).items

    training_labels = [example.desirable for example in trained_on]
    assert training_labels == [True, True, True, True]
    assert [item.desirable for item in evaluated] == training_labels
    # Neutral train rows (score 3) are left out of training.
    train_examples, _ = load_train_eval(cfg)
    assert len(train_examples) == 16
