"""The method registry: method name → the module that implements it.

This is the only place that branches on ``config.method``. Each module listed here exports
``build(config) -> TrainingMethod``; modules are imported on demand, so a method's
dependencies load only when it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuneforge.config import TuneforgeConfig
    from tuneforge.methods.base import TrainingMethod

__all__ = ["METHOD_MODULES", "build_method"]

#: Method name (the config's ``method:``) → module exporting ``build(config)``.
METHOD_MODULES: dict[str, str] = {
    "sft": "tuneforge.methods.sft",
    "dpo": "tuneforge.methods.dpo",
    "orpo": "tuneforge.methods.orpo",
    "kto": "tuneforge.methods.kto",
}


def build_method(config: TuneforgeConfig) -> TrainingMethod:
    """The training method selected by ``config.method``.

    Raises ValueError naming the known methods when ``config.method`` has no module.
    """
    module_path = METHOD_MODULES.get(config.method)
    if module_path is None:
        known = ", ".join(sorted(METHOD_MODULES))
        raise ValueError(f"unknown method {config.method!r}; known methods: {known}")
    module = importlib.import_module(module_path)
    method: TrainingMethod = module.build(config)
    return method
