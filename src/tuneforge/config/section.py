"""The strict base of every config section, the per-method sections of ``methods/`` included.

A module of its own because two layers build on it: ``config/schema.py`` (the shared
sections) and each method module under ``methods/`` (its own section). Importing it loads
nothing but pydantic.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base for every config model: unknown keys are errors; numbers are accepted for strings."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
