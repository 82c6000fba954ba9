"""The method registry: method name → its `MethodSpec`.

The one place that lists the methods. Everything else reads a method's spec: the config builds
its ``method:`` choices and per-method sections from `METHODS`, data handling dispatches on
``spec.record_kind``, training calls ``spec.build(config)``. A new method is one module that
exports ``SPEC``, plus one line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from tuneforge.errors import ConfigError
from tuneforge.methods import dpo, kto, orpo, sft
from tuneforge.methods.base import MethodSpec

if TYPE_CHECKING:
    from tuneforge.config import TuneforgeConfig
    from tuneforge.methods.base import TrainingMethod

__all__ = ["METHODS", "build_method", "method_spec", "unknown_method_message"]

#: Method name (the config's ``method:``) → its spec, in the order help texts list them.
METHODS: Mapping[str, MethodSpec] = MappingProxyType(
    {spec.name: spec for spec in (sft.SPEC, dpo.SPEC, orpo.SPEC, kto.SPEC)}
)


def unknown_method_message(name: str, registry: Mapping[str, MethodSpec] = METHODS) -> str:
    """The error shown for a method name the registry does not hold."""
    return f"unknown method '{name}'; choose one of {', '.join(registry)}"


def method_spec(name: str, registry: Mapping[str, MethodSpec] = METHODS) -> MethodSpec:
    """The spec registered as ``name``; ConfigError naming the known methods otherwise."""
    spec = registry.get(name)
    if spec is None:
        raise ConfigError(unknown_method_message(name, registry))
    return spec


def build_method(config: TuneforgeConfig) -> TrainingMethod:
    """The training method selected by ``config.method`` (built by its spec)."""
    return config.method_spec.build(config)
