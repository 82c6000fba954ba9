"""One evaluation of a pipeline's steps, in order, on one frozen held-out set.

The steps, left to right: ``baseline`` (the base model with the full prompt), any other
base-model variant of ``eval.variants`` (``baseline+retrieval``), then one per stage (that
stage's merged model with its short prompt). Every metric is compared with the baseline and
with the step before. Each step's outputs are cached in ``cache_dir`` under a key of everything
they depend on (the model's identity, the prompt, the held-out items, the tasks), so a re-run
evaluates only the steps whose model or settings changed; eval.json is rebuilt from the cache.
One stage model is in memory at a time (plus the base model when a step needs it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneforge.config import TuneforgeConfig
from tuneforge.evaluate.eval_models import EvalModels
from tuneforge.evaluate.metrics.tasks import VariantOutputs
from tuneforge.evaluate.retrieval import RETRIEVAL_VARIANT
from tuneforge.evaluate.runner import (
    EvalSetup,
    build_document,
    prepare_eval,
    retrieval_for,
    run_variant,
)
from tuneforge.evaluate.variants import VariantSpec, variant_specs
from tuneforge.io import write_json_atomic
from tuneforge.safe_loading import LoadPolicy

if TYPE_CHECKING:
    from transformers import PreTrainedModel

#: Bumped when what a cached step holds, or how it is computed, changes.
CACHE_VERSION = 1
Progress = Callable[[str], None]


@dataclass(frozen=True)
class StageStep:
    """A stage's step: its merged model and how it is prompted."""

    name: str
    folder: Path
    """The stage's merged model (a plain transformers folder)."""
    key: str
    """Identifies the folder's weights (the stage's config hash)."""
    method: str
    system_prompt: str | None
    chat_template: bool = True
    train_seconds: float | None = None
    run_dir: str | None = None


class _BaseModel:
    """The base model, loaded on first use and kept for the rest of the evaluation."""

    def __init__(self, name: str, policy: LoadPolicy, placement: dict[str, Any]) -> None:
        self.name, self.policy, self.placement = name, policy, placement
        self.model: PreTrainedModel | None = None

    def get(self) -> PreTrainedModel:
        from tuneforge.models import load_model

        if self.model is None:
            self.model = load_model(self.name, policy=self.policy, **self.placement).eval()
        return self.model


def _canonical(value: Any) -> Any:
    """JSON for hashing: pydantic models as their dumps, anything else as text."""
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else str(value)


#: The variants of the base model a pipeline shows before its stages (when ``eval.variants``
#: does not name its own).
BASE_STEPS = ("baseline", RETRIEVAL_VARIANT)


def base_steps(cfg: TuneforgeConfig) -> list[str]:
    """The base-model steps: ``baseline`` and ``baseline+retrieval``, or those of an explicit
    ``eval.variants`` (the stages are the tuned steps, so ``tuned`` variants are not used)."""
    named = cfg.eval.variants if "variants" in cfg.eval.model_fields_set else BASE_STEPS
    return [name for name in named if name in BASE_STEPS]


def _spec_payload(spec: VariantSpec, setup: EvalSetup) -> dict[str, Any]:
    """What a variant shows the model, per held-out item (retrieved shots included)."""
    shots: Any = spec.shots
    if spec.retrieval is not None:
        shots = [spec.shots_for(item.prompt) for item in setup.data.items]
    return {
        "name": spec.name,
        "model": spec.model,
        "system_prompt": spec.system_prompt,
        "chat_template": spec.chat_template,
        "shots": shots,
    }


def step_key(spec: VariantSpec, model_key: str, setup: EvalSetup, extra: dict[str, Any]) -> str:
    """The cache key of one step's outputs: everything they depend on, hashed."""
    payload = {
        "version": CACHE_VERSION,
        "spec": _spec_payload(spec, setup),
        "model": model_key,
        "items": [asdict(item) for item in setup.data.items],
        "kind": str(setup.data.kind),
        "plan": asdict(setup.plan),
        **extra,
    }
    text = json.dumps(payload, sort_keys=True, default=_canonical, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _cached(cache_dir: Path, name: str, key: str) -> VariantOutputs | None:
    path = cache_dir / f"{name}-{key[:16]}.json"
    if not path.is_file():
        return None
    try:
        return VariantOutputs(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None  # a damaged cache file is recomputed


def _store(cache_dir: Path, name: str, key: str, outputs: VariantOutputs) -> None:
    """Write one step's outputs; older files of the same step are removed."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    for old in cache_dir.glob(f"{name}-*.json"):
        if len(old.stem) == len(name) + 17 and old.stem != f"{name}-{key[:16]}":
            old.unlink()
    write_json_atomic(cache_dir / f"{name}-{key[:16]}.json", asdict(outputs))


def evaluate_steps(
    cfg: TuneforgeConfig,
    base_model: str,
    stages: Sequence[StageStep],
    *,
    cache_dir: Path,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The eval.json document of a pipeline: a variant per step (see the module docstring).

    ``cfg`` says how the held-out set is read and what is measured (its ``data.eval`` and
    ``eval:``); ``base_model`` is the model the first stage trained from. Models load under
    the config's policy (safetensors only; its ``trust_remote_code``).
    """
    from tuneforge.device import inference_placement
    from tuneforge.models import load_model, load_tokenizer

    say = progress or (lambda _message: None)
    policy = LoadPolicy.of(cfg)
    # On the GPU when there is one (`device.inference_placement`); fp32 on a CPU as before.
    placement = inference_placement(cfg.model.dtype, cfg.model.attn_implementation)
    tokenizer = load_tokenizer(base_model, policy=policy)
    setup = prepare_eval(cfg, None, tokenizer)
    say(
        f"{len(setup.data.items)} held-out examples from {setup.data.source}; "
        f"tasks: {', '.join(setup.plan.tasks)}"
    )
    base = _BaseModel(base_model, policy, placement)
    names = base_steps(cfg)
    retrieved = None
    if RETRIEVAL_VARIANT in names:
        models = EvalModels(tokenizer, base=base.get())
        retrieved = retrieval_for(cfg, setup.data, models, setup.plan)
    baselines = variant_specs(cfg, setup.shots, names, retrieved)
    stage_specs = [
        VariantSpec(step.name, "tuned", step.system_prompt, [], step.chat_template)
        for step in stages
    ]
    batch = cfg.eval.batch_size
    common = {"base": base_model, "batch_size": batch}
    runs: dict[str, VariantOutputs] = {}
    cached: dict[str, bool] = {}
    for spec in baselines:
        key = step_key(spec, f"base:{base_model}", setup, common)
        runs[spec.name], cached[spec.name] = _run_or_load(
            spec, key, cache_dir, say, lambda: EvalModels(tokenizer, base=base.get()), setup, batch
        )
    for spec, step in zip(stage_specs, stages, strict=True):
        key = step_key(spec, f"stage:{step.key}", setup, common)

        def models(folder: Path = step.folder) -> EvalModels:
            # Implicit rewards need the base model's log-probs beside the stage's.
            reference = base.get() if setup.plan.preference else None
            return EvalModels(
                tokenizer,
                base=reference,
                tuned=load_model(str(folder), policy=policy, **placement).eval(),
            )

        runs[spec.name], cached[spec.name] = _run_or_load(
            spec, key, cache_dir, say, models, setup, batch
        )
    specs = [*baselines, *stage_specs]
    names = [spec.name for spec in specs]
    previous = dict(zip(names[1:], names[:-1], strict=True))
    document = build_document(
        cfg, None, setup, specs, runs, main=names[-1] if stages else None, previous=previous
    )
    document["method"] = " → ".join(step.method for step in stages) or cfg.method
    document["model"] = base_model
    _describe_steps(document, baselines, stages, previous, cached)
    return document


def _run_or_load(
    spec: VariantSpec,
    key: str,
    cache_dir: Path,
    say: Progress,
    models: Callable[[], EvalModels],
    setup: EvalSetup,
    batch_size: int,
) -> tuple[VariantOutputs, bool]:
    """A step's outputs from the cache, else computed (and cached); True when cached."""
    outputs = _cached(cache_dir, spec.name, key)
    if outputs is not None:
        say(f"{spec.name}: unchanged, outputs reused from the cache")
        return outputs, True
    say(f"{spec.name}: {spec.describe()}")
    outputs = run_variant(spec, models(), setup.data, setup.plan, batch_size)
    say(f"{spec.name}: done in {outputs.seconds:.0f} s")
    _store(cache_dir, spec.name, key, outputs)
    return outputs, False


def _describe_steps(
    document: dict[str, Any],
    baselines: Sequence[VariantSpec],
    stages: Sequence[StageStep],
    previous: dict[str, str],
    cached: dict[str, bool],
) -> None:
    """The pipeline keys: ``steps`` (in order) and each variant's ``stage``, ``train_seconds``,
    ``previous`` and ``cached``."""
    steps = [{"name": spec.name, "stage": None, "method": None} for spec in baselines]
    steps += [{"name": s.name, "stage": s.name, "method": s.method} for s in stages]
    by_stage = {step.name: step for step in stages}
    for step in steps:
        name = step["name"]
        stage = by_stage.get(name)
        extra = {
            "stage": step["stage"],
            "method": step["method"],
            "train_seconds": stage.train_seconds if stage else None,
            "model_folder": str(stage.folder) if stage else None,
            "run_dir": stage.run_dir if stage else None,
            "previous": previous.get(name),
            "cached": cached[name],
        }
        document["variants"][name].update(extra)
        step.update({k: extra[k] for k in ("train_seconds", "previous", "run_dir")})
    document["steps"] = steps
