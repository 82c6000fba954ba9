"""report.html opened in headless Chromium: the headline and the plots really render.

Chromium comes from Debian's ``chromium`` package, which .ci/run installs before ``make test``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg
from transformers import PreTrainedTokenizerBase

from tuneforge.config import parse_config
from tuneforge.evaluate.eval_models import EvalModels
from tuneforge.evaluate.report import build_report
from tuneforge.evaluate.runner import evaluate, write_eval
from tuneforge.models import build_tiny_model

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y chromium; .ci/run installs it in CI)",
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,2000",
]


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture()
def report(tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase) -> Path:
    """A real report: tiny models evaluated on a few support messages, plus training logs."""
    rows = [
        {"prompt": "Where is my parcel?", "completion": "shipping"},
        {"prompt": "I was charged twice.", "completion": "billing"},
        {"prompt": "The app crashes on start.", "completion": "technical"},
        {"prompt": "When will it ship?", "completion": "shipping"},
    ]
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows * 3), encoding="utf-8")
    cfg = parse_config(
        {
            "method": "sft",
            "data": {"train": str(data), "eval": str(data)},
            "eval": {"baseline_system_prompt": "Answer with one team name.", "max_examples": 6},
        }
    )
    models = EvalModels(
        embedded_tokenizer,
        base=build_tiny_model(embedded_tokenizer, seed=0),
        tuned=build_tiny_model(embedded_tokenizer, seed=1),
    )
    run = tmp_path / "run"
    doc = evaluate(cfg, run, models=models)
    write_eval(run, doc)
    (run / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 4 / s}) + "\n" for s in range(1, 9)),
        encoding="utf-8",
    )
    return build_report(run)


def test_report_renders_headline_and_plots(report: Path, tmp_path: Path) -> None:
    url = report.resolve().as_uri()
    shot = tmp_path / "report.png"
    result = _chromium([f"--screenshot={shot}", url], tmp_path / "profile-1")
    assert shot.is_file(), result.stderr[-2000:]
    pixels = mpimg.imread(shot)[..., :3]  # (H, W, 3) floats in [0, 1]
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    assert float(pixels.std()) > 0.05, "screenshot is blank"
    # The headline sits at the top: that band must hold dark text on the white page.
    assert float((pixels[:300].mean(axis=2) < 0.5).mean()) > 0.005

    dom = _chromium(["--dump-dom", url], tmp_path / "profile-2").stdout
    assert "Did fine-tuning help?" in dom
    plots = re.search(r'data-plots="(\d+)"', dom)
    rendered = re.search(r'data-plots-rendered="(\d+)"', dom)
    assert plots and rendered, "the page's load script did not run"
    assert int(plots.group(1)) >= 2  # the task chart and the training curves
    assert rendered.group(1) == plots.group(1), "some inline plots did not decode"
    assert np.isfinite(pixels).all()
