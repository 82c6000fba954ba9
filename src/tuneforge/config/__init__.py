"""The run config: its schema, loading, overrides and printing (the public API).

``schema`` holds the shared sections and builds the file's model from the method registry;
``eval`` the ``eval:`` section; ``loading`` reads YAML, applies overrides and reports errors
with their YAML path; ``section`` is the strict base every section (the methods' included)
derives from.
"""

from tuneforge.config.eval import CheckRule, EvalConfig, EvalTask, EvalVariant
from tuneforge.config.loading import (
    apply_overrides,
    dump_config,
    load_config,
    parse_config,
    read_yaml,
)
from tuneforge.config.schema import (
    DataConfig,
    EarlyStoppingConfig,
    LoraConfig,
    ModelConfig,
    TrainConfig,
    TuneforgeConfig,
    config_model,
    default_config_model,
)
from tuneforge.config.section import Section

__all__ = [
    "CheckRule",
    "DataConfig",
    "EarlyStoppingConfig",
    "EvalConfig",
    "EvalTask",
    "EvalVariant",
    "LoraConfig",
    "ModelConfig",
    "Section",
    "TrainConfig",
    "TuneforgeConfig",
    "apply_overrides",
    "config_model",
    "default_config_model",
    "dump_config",
    "load_config",
    "parse_config",
    "read_yaml",
]
