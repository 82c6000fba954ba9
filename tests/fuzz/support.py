"""What the fuzz tests share: example counts and what every fuzzed command must end in.

The tests' own counts (`examples`) add up to more than 5,000 examples in ``make test``;
``make fuzz`` multiplies each by ``FUZZ_SCALE``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings

PROFILE_ENV = "HYPOTHESIS_PROFILE"
FUZZ_PROFILE = "fuzz"
#: How many times more examples each test runs under ``make fuzz``.
FUZZ_SCALE = 50
#: What `reported` (cli/commands.py) puts before every line of a user error.
ERROR_PREFIX = "error: "
#: What `check_command` says when an unexpected exception reached it (a bug, not bad input).
BUG_MARK = "this is a tuneforge bug"

COMMON_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
    "print_blob": True,
}


def fuzzing() -> bool:
    """True under ``make fuzz``."""
    return os.environ.get(PROFILE_ENV) == FUZZ_PROFILE


def examples(count: int) -> Callable[[Any], Any]:
    """``@settings`` with ``count`` examples (``FUZZ_SCALE`` times as many under ``make fuzz``)."""
    return settings(max_examples=count * FUZZ_SCALE if fuzzing() else count)


def assert_reported(code: int, out: str, err: str) -> None:
    """A command that ended in success (0) or a user error (2) printed as ``error:`` lines."""
    assert code in (0, 2), (code, out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 2:
        assert lines, "exit 2 without an error message"
    errors = [line for line in lines if not line.startswith("warning: ")]
    assert all(line.startswith(ERROR_PREFIX) for line in errors), err
