"""KTO end to end on a tiny random model: metrics, balance and weights at train start, paired
data, the one-example last micro-batch, and both example configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from transformers import PreTrainedTokenizerBase

from tuneforge.config import load_config, parse_config
from tuneforge.data.render import RenderSettings
from tuneforge.engine.batches import epoch_batches
from tuneforge.errors import ConfigError
from tuneforge.evaluate.inference.generate import prompt_ids, stop_token_ids
from tuneforge.export.verify import greedy_replies
from tuneforge.models import build_tiny_model, load_model
from tuneforge.run.stage import train

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "feedback"
GOOD = [
    ("How do I reset my password?", "Open Settings > Account and choose Reset password."),
    ("Where is dark mode?", "Settings > Appearance > Theme lets you pick Dark."),
    ("How long does shipping take?", "Orders ship within 2 working days."),
    ("Can I add a teammate?", "Go to Members and click Invite."),
    ("How do I cancel?", "Billing > Plan > Cancel subscription."),
    ("Can I export a report?", "Reports > Export gives a CSV."),
]
BAD = [
    ("Can I export to PDF?", "No idea, sorry."),
    ("Is there an API?", "Read the docs before asking."),
    ("Why was I charged twice?", "That never happens."),
    ("Can I undo a delete?", "Deleted is deleted."),
]


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def ratings(tmp_path: Path) -> Path:
    """Ten rated replies (5/4 good, 1/2 bad) plus a neutral 3."""
    rows = [{"prompt": p, "completion": c, "score": 5 - i % 2} for i, (p, c) in enumerate(GOOD)]
    rows += [{"prompt": p, "completion": c, "score": 1 + i % 2} for i, (p, c) in enumerate(BAD)]
    rows.append({"prompt": "Hello?", "completion": "Hi.", "score": 3})
    return write_rows(tmp_path / "ratings.jsonl", rows)


def config(tmp_path: Path, data: Path, **sections: Any) -> Any:
    """KTO alone (``kto.nll_weight: 0``) unless the ``kto`` section says otherwise."""
    train_settings = {"precision": "fp32", "logging_steps": 1, "batch_size": 4, "lr": 1e-2}
    train_settings.update(sections.pop("train", {}))
    sections["kto"] = {"nll_weight": 0.0, **sections.get("kto", {})}
    return parse_config(
        {
            "method": "kto",
            "output": str(tmp_path / "run"),
            "data": {"train": str(data), "eval_split": 0, "max_length": 128},
            "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
            "train": train_settings,
            **sections,
        }
    )


def records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def run(cfg: Any, tokenizer: PreTrainedTokenizerBase, **kwargs: Any) -> Any:
    return train(cfg, model=build_tiny_model(tokenizer, seed=0), tokenizer=tokenizer, **kwargs)


def test_kto_trains_logs_its_metrics_and_handles_a_lone_last_example(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    # 10 labelled examples (the 3 is neutral) in batches of 3: the last micro-batch holds one.
    cfg = config(tmp_path, ratings(tmp_path), train={"batch_size": 3, "epochs": 2})
    outcome = run(cfg, embedded_tokenizer)
    assert outcome.final_dir is not None and (outcome.final_dir / "adapter_config.json").exists()
    logged = records(outcome.run_dir)
    assert len(logged) == 8  # 4 micro-batches per epoch, one per step
    first = logged[0]
    # Step 1: the adapter starts at zero, so the policy is the reference.
    assert first["loss"] == pytest.approx(0.5, abs=1e-6)
    assert first["kl"] == 0.0
    for name in ("rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected"):
        assert any(name in r for r in logged), name
    assert any(r.get("kl", 0) > 0 for r in logged)
    assert all("count/chosen" not in r for r in logged)
    margins = [r["rewards/margins"] for r in logged if "rewards/margins" in r]
    assert margins and all(
        r["rewards/margins"] == pytest.approx(r["rewards/chosen"] - r["rewards/rejected"])
        for r in logged
        if "rewards/margins" in r
    )


def test_the_nll_term_adds_the_desirable_replies_nll_to_the_first_loss(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    """``kto.nll_weight`` 1, token mean: step 1 (policy = reference) is 1/2 + NLL(desirable)."""
    kto = {"nll_weight": 1.0, "nll_norm": "token_mean"}
    cfg = config(tmp_path, ratings(tmp_path), kto=kto, train={"max_steps": 1})
    outcome = run(cfg, embedded_tokenizer)
    (first,) = records(outcome.run_dir)
    assert first["nll_chosen"] > 1.0  # a random tiny model finds the replies unlikely
    assert first["loss"] == pytest.approx(0.5 + first["nll_chosen"], abs=1e-5)


def test_balance_warning_is_printed_at_train_start(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"prompt": p, "completion": c, "score": True} for p, c in GOOD]
    rows += [{"prompt": p, "completion": c, "score": False} for p, c in BAD[:2]]
    cfg = config(tmp_path, write_rows(tmp_path / "d.jsonl", rows), train={"max_steps": 1})
    outcome = run(cfg, embedded_tokenizer)
    err = capsys.readouterr().err
    assert "6 desirable vs 2 undesirable" in err
    assert "kto.desirable_weight: 1 and kto.undesirable_weight: 3" in err
    # Warned, not applied: the first loss is exactly 1/2 per example.
    assert records(outcome.run_dir)[0]["loss"] == pytest.approx(0.5, abs=1e-6)


def test_auto_weights_apply_the_balancing_weights(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"prompt": p, "completion": c, "score": True} for p, c in GOOD]
    rows += [{"prompt": p, "completion": c, "score": False} for p, c in BAD[:2]]
    data = write_rows(tmp_path / "d.jsonl", rows)
    # One batch of all 8: λ_U = 3 for the 2 undesirable ones → loss = (6·1 + 2·3)/8 · 1/2.
    cfg = config(
        tmp_path, data, kto={"auto_weights": True}, train={"max_steps": 1, "batch_size": 8}
    )
    outcome = run(cfg, embedded_tokenizer)
    assert "kto.undesirable_weight 3" in capsys.readouterr().err
    assert records(outcome.run_dir)[0]["loss"] == pytest.approx(0.75, abs=1e-6)


def test_score_weighting_changes_the_first_loss_exactly(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    scores = [5, 5, 5, 5, 4, 5, 1, 2, 1, 2]
    rows = [
        {"prompt": p, "completion": c, "score": s}
        for (p, c), s in zip(GOOD + BAD, scores, strict=True)
    ]
    data = write_rows(tmp_path / "d.jsonl", rows)
    # |score - 3| over its class mean: desirable 2/(11/6) and 1/(11/6); undesirable 2/1.5, 1/1.5.
    weights = [12 / 11] * 4 + [6 / 11, 12 / 11] + [4 / 3, 2 / 3, 4 / 3, 2 / 3]
    cfg = config(
        tmp_path, data, kto={"score_weighting": True, "threshold": 3}, train={"max_steps": 1}
    )
    outcome = run(cfg, embedded_tokenizer)
    # Step 1 (policy = reference): each example's loss is 1/2 · its weight.
    first = epoch_batches(len(rows), 4, seed=cfg.train.seed, epoch=0)[0]
    expected = 0.5 * sum(weights[i] for i in first) / len(first)
    assert expected != pytest.approx(0.5)
    assert records(outcome.run_dir)[0]["loss"] == pytest.approx(expected, abs=1e-6)


def test_a_dpo_file_trains_with_kto(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    rows = [
        {"prompt": p, "chosen": c, "rejected": r}
        for (p, c), (_, r) in zip(GOOD[:4], BAD, strict=True)
    ]
    cfg = config(tmp_path, write_rows(tmp_path / "pairs.jsonl", rows), train={"max_steps": 2})
    outcome = run(cfg, embedded_tokenizer)
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["counts"]["train_examples"] == 8  # 4 pairs → 4 desirable + 4 undesirable


def test_batch_size_one_is_refused_when_the_config_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "kto.yaml"
    path.write_text("method: kto\ndata:\n  train: d.jsonl\ntrain:\n  batch_size: 1\n")
    with pytest.raises(ConfigError, match=r"kto.yaml: train.batch_size: must be at least 2"):
        load_config(path)


@pytest.mark.parametrize("name", ["kto-thumbs.yaml", "kto-ratings.yaml"])
def test_example_configs_run(
    name: str, tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    overrides = [f"output={tmp_path / 'run'}", "train.max_steps=2", "train.precision=fp32"]
    cfg = load_config(EXAMPLES / name, overrides)
    assert cfg.method == "kto" and Path(cfg.data.train).is_file() and cfg.data.eval
    outcome = run(cfg, embedded_tokenizer)
    assert outcome.final_dir is not None
    logged = records(outcome.run_dir)
    assert any("eval_rewards/margins" in r for r in logged)


def greedy_texts(model_dir: Path, tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """The saved model's greedy replies to the GOOD then BAD prompts, as training renders them."""
    model = load_model(str(model_dir)).eval()
    prompts = [prompt_ids(p, tokenizer, RenderSettings()) for p, _ in GOOD + BAD]
    replies = greedy_replies(
        model,
        prompts,
        stop_ids=stop_token_ids(model, tokenizer),
        pad_id=tokenizer.pad_token_id,
        max_new_tokens=24,
    )
    return [tokenizer.decode(r, skip_special_tokens=True).strip() for r in replies]


def test_default_kto_writes_the_liked_replies_and_kto_alone_does_not(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    """Issue 12's target on a tiny model: the default NLL term on desirable replies
    (``kto.nll_weight: 1``, ``nll_norm: sum``) makes greedy decoding write them; KTO alone
    ranks them above the disliked ones without ever writing them.

    Full fine-tune of the random tiny model, 200 steps of 5 at lr 3e-3 (measured: 6 of 6 liked
    replies written word for word at 150 and 200 steps with the default, 0 of 6 with
    ``nll_weight: 0``; KTO alone reached 1 of 6 only at 300 steps).
    """
    rows = [{"prompt": p, "completion": c, "score": True} for p, c in GOOD]
    rows += [{"prompt": p, "completion": c, "score": False} for p, c in BAD]
    data = write_rows(tmp_path / "d.jsonl", rows)
    liked = [c for _, c in GOOD]
    written: dict[str, list[str]] = {}
    for name, kto in (("default", {}), ("alone", {"nll_weight": 0.0})):
        document = {
            "method": "kto",
            "output": str(tmp_path / name),
            "data": {"train": str(data), "eval_split": 0, "max_length": 128},
            "lora": None,
            "kto": kto,
            "train": {
                "precision": "fp32",
                "batch_size": 5,
                "lr": 3e-3,
                "max_steps": 200,
                "early_stopping": False,
            },
        }
        cfg = parse_config(document)
        if name == "default":
            assert (cfg.kto.nll_weight, cfg.kto.nll_norm) == (1.0, "sum")
        outcome = run(cfg, embedded_tokenizer)
        assert outcome.final_dir is not None
        written[name] = greedy_texts(outcome.final_dir, embedded_tokenizer)
    assert written["default"][: len(GOOD)] == liked
    assert not set(written["alone"]) & set(liked)
    # The disliked replies are never what the default model writes.
    assert not set(written["default"]) & {c for _, c in BAD}
