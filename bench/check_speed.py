"""How fast `tuneforge check` lints a 100,000-line SFT JSONL file without a tokenizer.

Run: ``python bench/check_speed.py [--rows N]``. The last line printed is a JSON object
``{"rows": ..., "seconds": ..., "rows_per_s": ...}``. Target: well under 30 s.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import tempfile
import time
from pathlib import Path

from tuneforge.cli import check_command

_WORD_TEXT = (
    "the model answers questions about invoices refunds shipping orders accounts passwords "
    "billing cards delivery returns warranty support hours discount coupon language french "
    "german translate summarise classify positive negative neutral"
)
WORDS = _WORD_TEXT.split(" ")


def make_file(path: Path, rows: int, seed: int = 0) -> int:
    """Write ``rows`` varied SFT lines (a few of them broken); return how many are broken."""
    rng = random.Random(seed)
    broken = 0
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            if i % 20_000 == 17:
                handle.write('{"prompt": "broken line" "completion": "x"}\n')
                broken += 1
                continue
            prompt = " ".join(rng.choices(WORDS, k=rng.randint(5, 40)))
            reply = " ".join(rng.choices(WORDS, k=rng.randint(1, 80)))
            if i % 3 == 0:
                row: dict[str, object] = {
                    "messages": [
                        {"role": "system", "content": "You are a helpful support agent."},
                        {"role": "user", "content": f"{prompt} #{i}"},
                        {"role": "assistant", "content": reply},
                    ]
                }
            else:
                row = {"prompt": f"{prompt} #{i}", "completion": reply, "id": i}
            handle.write(json.dumps(row) + "\n")
    return broken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.jsonl"
        broken = make_file(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        output = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(output):
            code = check_command(path, method="sft", model="none")
        seconds = time.perf_counter() - start
    reported = sum(1 for line in output.getvalue().splitlines() if ": json: invalid JSON" in line)
    assert code == 2 and reported == broken, (code, reported, broken)
    print(f"checked {args.rows} lines ({size_mb:.1f} MB, {broken} broken) in {seconds:.2f} s")
    print(f"{args.rows / seconds:,.0f} rows/s")
    print(
        json.dumps(
            {
                "rows": args.rows,
                "seconds": round(seconds, 3),
                "rows_per_s": round(args.rows / seconds),
            }
        )
    )


if __name__ == "__main__":
    main()
