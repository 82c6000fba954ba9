"""A stage's config hash: what reruns a pipeline stage and what does not."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tuneforge.config import parse_config
from tuneforge.run.pipeline_state import stage_hash


def _config(tmp_path: Path, **changes: Any) -> Any:
    data: dict[str, Any] = {
        "method": "dpo",
        "model": "stages/sft/merged",
        "output": str(tmp_path / "stages" / "dpo"),
        "data": {"train": str(tmp_path / "train.jsonl"), "eval": str(tmp_path / "eval.jsonl")},
    }
    for key, value in changes.items():
        section, _, name = key.partition("__")
        data.setdefault(section, {})[name] = value
    return parse_config(data)


def test_the_hash_covers_the_stage_and_its_inputs_only(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n')
    (tmp_path / "eval.jsonl").write_text('{"prompt": "d", "chosen": "e", "rejected": "f"}\n')
    train_sha = hashlib.sha256((tmp_path / "train.jsonl").read_bytes()).hexdigest()
    digest, inputs = stage_hash(_config(tmp_path), "stage:abc", train_sha)
    eval_sha = hashlib.sha256((tmp_path / "eval.jsonl").read_bytes()).hexdigest()
    assert inputs == {"train": train_sha, "eval": eval_sha}
    assert len(digest) == 64

    def same(**changes: Any) -> bool:
        return stage_hash(_config(tmp_path, **changes), "stage:abc", train_sha)[0] == digest

    # No weight changes: where it is written, how often it logs and saves, the evaluation,
    # and the sections of the methods this stage does not use.
    assert same(train__logging_steps=1, train__save_steps=7)
    assert same(eval__max_examples=3, eval__baseline_system_prompt="x")
    assert same(kto__beta=0.5, orpo__beta=0.3)
    # Everything else reruns the stage.
    assert not same(dpo__beta=0.2)
    assert not same(train__lr=1e-5)
    assert not same(data__max_length=64)
    assert stage_hash(_config(tmp_path), "stage:abd", train_sha)[0] != digest
    assert stage_hash(_config(tmp_path), "stage:abc", "other")[0] != digest
    (tmp_path / "eval.jsonl").write_text('{"prompt": "d", "chosen": "e2", "rejected": "f"}\n')
    assert stage_hash(_config(tmp_path), "stage:abc", train_sha)[0] != digest
