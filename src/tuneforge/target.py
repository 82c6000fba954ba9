"""What `generate` and `chat` (and export's checks) run: a TARGET named on the command line.

A TARGET is one of:

- a run directory (``config.yaml`` and ``final/``): the run's tuned model and tokenizer, with
  the run's system prompt (``eval.tuned_system_prompt``, else ``data.system_prompt``) and its
  chat-template setting, so the model is prompted exactly as it was trained and evaluated;
- a model folder (``config.json``; an exported folder is one): a plain transformers load;
- ``embedded``: the embedded default model.

Shared ground: imports config, models and data only (never evaluate/ or run/).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tuneforge.data.render import RenderSettings
from tuneforge.embedded import EMBEDDED_NAME
from tuneforge.errors import TuneforgeError
from tuneforge.safe_loading import LoadPolicy

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from tuneforge.config import TuneforgeConfig

#: The run directory's resolved config and its trained model (written by `tuneforge train`);
#: everything that opens a run directory names them through these two.
RUN_CONFIG = "config.yaml"
FINAL_DIR = "final"
#: Used when neither the model config nor the tokenizer states a context length.
DEFAULT_CONTEXT = 2048

_EXPECTED = (
    "expected a run directory (config.yaml and final/, written by `tuneforge train`), "
    "a model folder (config.json, e.g. one written by `tuneforge export`), or 'embedded'"
)


def tuned_system_prompt(cfg: TuneforgeConfig) -> str | None:
    """``eval.tuned_system_prompt``, else the prompt the model was trained with."""
    if cfg.eval.tuned_system_prompt is not None:
        return cfg.eval.tuned_system_prompt
    return cfg.data.system_prompt


@dataclass
class Target:
    """A loaded TARGET: its model, tokenizer and how prompts are rendered for it."""

    name: str
    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel
    render: RenderSettings = field(default_factory=RenderSettings)
    run_dir: Path | None = None
    config: TuneforgeConfig | None = None
    base: PreTrainedModel | None = None
    """A separate base model (full fine-tuning runs, when asked for); LoRA runs need none."""

    def with_system_prompt(self, system_prompt: str | None) -> Target:
        """This target with ``system_prompt`` over its own ("" for none; None keeps its own)."""
        if system_prompt is None:
            return self
        render = RenderSettings(self.render.chat_template, system_prompt or None)
        return replace(self, render=render)

    @property
    def system_prompt(self) -> str | None:
        """The system prompt prompts get by default (the run's own, for a run)."""
        return self.render.system_prompt

    @property
    def context_length(self) -> int:
        """How many tokens (prompt and reply) the model can attend to."""
        limits = [
            getattr(getattr(self.model, "config", None), "max_position_embeddings", None),
            getattr(self.tokenizer, "model_max_length", None),
        ]
        # Tokenizers without a limit report a huge sentinel (about 1e30): ignore it.
        usable = [int(n) for n in limits if isinstance(n, int) and 0 < n < 10**7]
        return min(usable) if usable else DEFAULT_CONTEXT

    @property
    def has_base(self) -> bool:
        """True when a base model can be compared with (a run: adapter off, or its base)."""
        from tuneforge.models import is_peft

        return self.base is not None or is_peft(self.model)

    @contextmanager
    def use_base(self) -> Iterator[PreTrainedModel]:
        """The base model for the block: a LoRA run's model with its adapter switched off."""
        from tuneforge.models import adapter_disabled

        if self.base is not None:
            yield self.base
            return
        if not self.has_base:
            raise TuneforgeError(f"{self.name}: has no base model to compare with")
        with adapter_disabled(self.model) as model:
            yield model


def is_run_dir(path: Path) -> bool:
    """True when ``path`` looks like a run directory (it holds ``config.yaml``)."""
    return path.is_dir() and (path / RUN_CONFIG).is_file()


def load_target(
    spec: str | Path,
    *,
    system_prompt: str | None = None,
    with_base: bool = False,
    home: Path | None = None,
    allow_pickle: bool = False,
) -> Target:
    """Load TARGET ``spec`` (see the module doc); raises TuneforgeError for anything else.

    ``system_prompt`` replaces the target's own; ``with_base`` also loads the base model of a
    full fine-tuning run (a LoRA run's base is its model with the adapter off: no second copy).
    Weights load from safetensors only unless ``allow_pickle``; a model folder's own code
    runs only when a run's config sets ``trust_remote_code`` (a bare model folder: never).
    """
    from tuneforge.device import inference_placement
    from tuneforge.models import is_adapter_folder, load_model, load_tokenizer

    name = str(spec)
    policy = LoadPolicy(allow_pickle=allow_pickle)
    # On the GPU when there is one, like evaluation (`device.inference_placement`).
    placement = inference_placement("auto", "auto")
    if name == EMBEDDED_NAME:
        tokenizer = load_tokenizer(name, home)
        model = load_model(name, home=home, **placement)
        return _finish(Target(name, tokenizer, model), system_prompt)
    path = Path(name).expanduser()
    if not path.exists():
        raise TuneforgeError(f"{name}: no such file or folder; {_EXPECTED}")
    if not path.is_dir():
        raise TuneforgeError(f"{name}: is a file; {_EXPECTED}")
    if is_run_dir(path):
        run = _load_run(path, with_base=with_base, home=home, allow_pickle=allow_pickle)
        return _finish(run, system_prompt)
    if (path / "config.json").is_file():
        tokenizer = load_tokenizer(str(path), policy=policy)
        model = load_model(str(path), policy=policy, **placement)
        return _finish(Target(name, tokenizer, model), system_prompt)
    if is_adapter_folder(path):
        raise TuneforgeError(
            f"{name}: holds a LoRA adapter but no run config; pass the run directory above it "
            "(which names the base model), or export the run to a merged model folder"
        )
    raise TuneforgeError(f"{name}: neither config.yaml nor config.json inside; {_EXPECTED}")


def _load_run(path: Path, *, with_base: bool, home: Path | None, allow_pickle: bool) -> Target:
    """The tuned model of the run directory ``path``."""
    from tuneforge.config import load_config
    from tuneforge.device import inference_placement
    from tuneforge.models import is_adapter_folder, load_model, load_trained

    final = path / FINAL_DIR
    if not final.is_dir():
        raise TuneforgeError(
            f"{path}: a run directory without {FINAL_DIR}/ (has training finished?); train it "
            "to the end, or `tuneforge train CONFIG --resume` to continue it"
        )
    cfg = load_config(path / RUN_CONFIG)
    policy = LoadPolicy.of(cfg, allow_pickle=allow_pickle)
    placement = inference_placement(cfg.model.dtype, cfg.model.attn_implementation)
    tokenizer, model = load_trained(cfg.model.path, final, home=home, policy=policy, **placement)
    base = None
    if with_base and not is_adapter_folder(final):
        base = load_model(cfg.model.path, home=home, policy=policy, **placement).eval()
    render = RenderSettings(
        chat_template=cfg.data.chat_template, system_prompt=tuned_system_prompt(cfg)
    )
    return Target(str(path), tokenizer, model, render, run_dir=path, config=cfg, base=base)


def _finish(target: Target, system_prompt: str | None) -> Target:
    """Eval mode, and the system prompt given on the command line over the target's own."""
    target.model.eval()
    return target.with_system_prompt(system_prompt)
