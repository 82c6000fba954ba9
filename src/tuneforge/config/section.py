"""The strict base of every config section, the per-method sections of ``methods/`` included.

A module of its own because two layers build on it: ``config/schema.py`` (the shared
sections) and each method module under ``methods/`` (its own section). Importing it loads
nothing but pydantic.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, AllowInfNan, BaseModel, ConfigDict, Strict

#: A finite number: an int is accepted where a float is expected (``lr: 1``); a boolean, a
#: string, ``.inf`` and ``.nan`` are not.
Float = Annotated[float, Strict(), AllowInfNan(False)]
#: A whole number: a boolean (``batch_size: true``), a float or a string is not one.
Int = Annotated[int, Strict()]
#: A YAML boolean: ``1``, ``"yes"`` or ``"true"`` (a string) are not one.
Bool = Annotated[bool, Strict()]
#: The largest step counts (``max_steps``, ``logging_steps``...) and batch sizes accepted.
MAX_STEPS = 10**9
MAX_BATCH = 10**6
#: Seeds are 32-bit unsigned (numpy, CUDA).
MAX_SEED = 2**32 - 1


def sane_max(limit: float, hint: str = "") -> AfterValidator:
    """A bound that no real run reaches: larger values are typos, refused with ``hint``."""

    def check(value: Any) -> Any:
        if value is not None and value > limit:
            raise ValueError(f"must be ≤ {limit:g}, a sane bound{hint} (got {value!r})")
        return value

    return AfterValidator(check)


class Section(BaseModel):
    """Base for every config model: unknown keys are errors; numbers are accepted for strings."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
