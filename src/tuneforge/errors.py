"""User-facing errors: the CLI prints their message (never a traceback) and exits 2."""

from __future__ import annotations


class TuneforgeError(Exception):
    """Base class for errors caused by the user's input or environment, not by a bug."""


class ConfigError(TuneforgeError):
    """A config file or override is invalid; the message names the YAML path."""


class DataError(TuneforgeError):
    """A data file cannot be used; the message lists every problem as FILE:LINE: field: message."""


class ModelLoadError(TuneforgeError):
    """A model or tokenizer cannot be loaded; the message says how to fix it."""
