"""Which tasks run, decided from the eval section and the data."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from tuneforge.config import parse_config
from tuneforge.evaluate.heldout import load_eval_data
from tuneforge.evaluate.plan import plan_tasks


def _cfg(tmp_path: Path, rows: list[dict], method: str = "sft", **eval_section: object):  # type: ignore[no-untyped-def]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data = {"train": str(path), "eval": str(path)}
    return parse_config({"method": method, "data": data, "eval": dict(eval_section)})


def _plan(cfg, tokenizer=None):  # type: ignore[no-untyped-def]
    return plan_tasks(cfg, load_eval_data(cfg, None), tokenizer)


def test_labels_are_inferred_from_repeated_short_answers(tmp_path: Path) -> None:
    rows = [{"prompt": f"m{i}", "completion": ["spam", "ham"][i % 2]} for i in range(10)]
    plan = _plan(_cfg(tmp_path, rows))
    assert plan.tasks == ["classification"] and set(plan.labels or []) == {"spam", "ham"}


def test_json_answers_get_the_structure_task(tmp_path: Path) -> None:
    rows = [{"prompt": f"m{i}", "completion": json.dumps({"n": i})} for i in range(4)]
    assert _plan(_cfg(tmp_path, rows)).tasks == ["structure"]
    checks = [{"name": "short", "max_words": 5}]
    plan = _plan(_cfg(tmp_path, rows, format="json", checks=checks))
    assert plan.tasks == ["structure", "checks"] and plan.schema_path is None


def test_free_text_gets_similarity_and_pairs_get_preference(tmp_path: Path) -> None:
    rows = [{"prompt": f"m{i}", "completion": f"a different answer {i}"} for i in range(4)]
    assert _plan(_cfg(tmp_path, rows)).tasks == ["similarity"]
    pairs = [{"prompt": "p", "chosen": f"good {i}", "rejected": "bad"} for i in range(3)]
    assert _plan(_cfg(tmp_path, pairs, method="dpo")).tasks == ["preference", "similarity"]
    only = _plan(_cfg(tmp_path, pairs, method="dpo", tasks=["preference"]))
    assert only.tasks == ["preference"] and not only.needs_generation


def test_generation_budget_comes_from_the_task(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    rows = [{"prompt": f"m{i}", "completion": ["spam", "ham"][i % 2]} for i in range(10)]
    plan = _plan(_cfg(tmp_path, rows), embedded_tokenizer)
    assert plan.max_new_tokens <= 16  # a one-token label plus 8 tokens of room
    long_rows = [{"prompt": "m", "completion": "word " * 400 + str(i)} for i in range(3)]
    capped = _plan(_cfg(tmp_path, long_rows, max_new_tokens=64), embedded_tokenizer)
    assert capped.max_new_tokens == 64


def test_length_checks_get_room_to_fail(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    rows = [{"prompt": f"m{i}", "completion": f"short answer {i}"} for i in range(4)]
    checks = [{"name": "concise", "max_words": 40}]
    plan = _plan(_cfg(tmp_path, rows, checks=checks), embedded_tokenizer)
    assert plan.max_new_tokens == 82  # 2 tokens per allowed word, plus one word's worth
