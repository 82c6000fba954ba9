"""The command line every ``*_vs_trl.py`` benchmark shares, and its child mode.

A benchmark script is both the parent (what a person runs, with the public flags) and each
child (the same script started by `_common.run_sides` with the hidden ``--side``,
``--workdir``, ``--tag`` and ``--settings`` flags). `serve_child` is the child mode.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from _common import FIRST_TIMED_STEP, BenchSettings, finish_child, resolve_device


def bench_parser(doc: str, *, steps: int) -> argparse.ArgumentParser:
    """A parser with the flags every benchmark starts with: ``--steps`` and ``--precision``.

    The description is the first paragraph of the script's docstring. Add the script's own
    flags next, then `add_run_args`, so that ``--help`` lists them in a sensible order.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=steps, help="last timed step (N); N+1 run")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    return parser


def add_run_args(parser: argparse.ArgumentParser, *, timeout: float) -> None:
    """``--timeout`` and the hidden flags the parent uses to start a child (`run_sides`)."""
    parser.add_argument("--timeout", type=float, default=timeout, help="per child, seconds")
    parser.add_argument("--side", choices=["ours", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--tag", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)


def add_data_args(parser: argparse.ArgumentParser, default_data: Path) -> None:
    """``--data`` (a JSONL file of the script's method) and ``--threads`` (default: all)."""
    parser.add_argument("--data", default=str(default_data))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda", "auto"],
        default="auto",
        help="where BOTH sides train (auto: CUDA when torch sees one, else the CPU)",
    )


def shared_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The `BenchSettings` fields every benchmark takes from its command line, as keywords."""
    return {
        "data": str(Path(args.data).resolve()),  # children run with another working folder
        "steps": args.steps,
        "precision": args.precision,
        "threads": args.threads,
        "device": resolve_device(args.device),
    }


def serve_child(
    args: argparse.Namespace,
    settings_class: type[BenchSettings],
    runners: dict[str, Any],
    **summary: Any,
) -> bool:
    """When started as a child (``--side``), run that side and emit its result; else False.

    ``runners`` maps ``ours``/``trl`` to ``run(settings, workdir, run_dir)``; the run folder
    is ``workdir/<tag>``. ``summary`` goes to `finish_child` (how the summary line looks).
    """
    if not args.side:
        return False
    settings = settings_class(**json.loads(args.settings))
    workdir = Path(args.workdir)
    finish_child(args.side, runners[args.side](settings, workdir, workdir / args.tag), **summary)
    return True


def parse_bench_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse; in the parent, refuse a ``--steps`` that leaves no step to time."""
    args = parser.parse_args()
    if not args.side and args.steps < FIRST_TIMED_STEP:
        parser.error(f"--steps must be at least {FIRST_TIMED_STEP}")
    return args
