"""Small helpers shared by tests (on sys.path through pytest's ``pythonpath``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuneforge.data.types import RecordKind

#: The brand-voice preference pairs shipped with the examples (DPO/ORPO tests train on them).
BRAND_VOICE = Path(__file__).resolve().parents[1] / "examples" / "brand-voice" / "train.jsonl"

#: What DPO logs every step, under TRL's names (tuneforge keeps them for comparability).
DPO_METRICS = (
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "logps/chosen",
    "logps/rejected",
)
#: ORPO logs DPO's reward and log-prob metrics plus its NLL and odds-ratio terms.
ORPO_METRICS = (*DPO_METRICS, "nll_loss", "log_odds_ratio", "log_odds_chosen")

#: TRL arguments every parity test uses: CPU, fp32, and no reporting or progress bars, so
#: that TRL runs like tuneforge does in the tests and prints nothing of its own.
TRL_QUIET_CPU: dict[str, Any] = {
    "use_cpu": True,
    "bf16": False,
    "report_to": "none",
    "disable_tqdm": True,
}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` as a JSONL file and return its path."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def first_lines(source: Path, count: int, target: Path) -> Path:
    """Copy the first ``count`` lines of ``source`` to ``target`` and return ``target``."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)[:count]
    target.write_text("".join(lines), encoding="utf-8")
    return target


def brand_voice_pairs(path: Path, count: int) -> Path:
    """Copy the first ``count`` brand-voice pairs to ``path`` (a small, real data set)."""
    return first_lines(BRAND_VOICE, count, path)


def metrics_records(run_dir: Path) -> list[dict[str, Any]]:
    """Every record a run logged to ``metrics.jsonl`` (training and evaluation lines)."""
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def kind(method: str) -> RecordKind:
    """The record kind a registered method reads (data functions take kinds, not names)."""
    from tuneforge.methods import METHODS

    return METHODS[method].record_kind


def talkative_tiny_model(tokenizer: Any, seed: int = 1) -> Any:
    """A tiny random model whose greedy replies are visible text, for generation tests.

    Random tiny models answer a chat prompt (which ends in a newline) with newlines only; the
    newline's embedding row (tied to the output head) is zeroed so other tokens win, and the
    model's own EOS is unset so replies run to the token limit unless the tokenizer's EOS wins.
    """
    import torch

    from tuneforge.models import build_tiny_model

    model = build_tiny_model(tokenizer, seed=seed)
    newline = tokenizer.encode("\n", add_special_tokens=False)[0]
    with torch.no_grad():
        model.get_input_embeddings().weight[newline] = 0
    model.generation_config.eos_token_id = None
    return model


def greedy_reference_decode(
    model: Any, prompt: list[int], stops: set[int], steps: int
) -> list[int]:
    """Reference decoder: a full forward pass per step, no cache, no padding, no batch."""
    import torch

    ids, out = list(prompt), []
    for _ in range(steps):
        with torch.no_grad():
            token = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
        if token in stops:
            break
        out.append(token)
        ids.append(token)
    return out


#: Support requests and their teams: the small SFT data set of the training tests.
SUPPORT_REQUESTS = [
    ("Where is my parcel?", "shipping"),
    ("I was charged twice this month.", "billing"),
    ("The app crashes when I open settings.", "technical"),
    ("Please close my account.", "cancellation"),
    ("Could you add a dark mode?", "feature_request"),
    ("I can't log in with my new email.", "account"),
    ("My refund has not arrived yet.", "billing"),
    ("Export to PDF gives a blank page.", "technical"),
    ("When will my order ship?", "shipping"),
    ("Change the name on my profile, please.", "account"),
    ("Stop my subscription at the end of the month.", "cancellation"),
    ("A calendar view would help a lot.", "feature_request"),
]
