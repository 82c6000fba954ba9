"""``tuneforge eval``: run every variant on the frozen held-out set and write eval.json.

The flow: load the held-out items → decide the tasks → for each variant, encode its prompts,
generate greedily and score continuations (labels, chosen/rejected) → compute every task's
metrics → paired-bootstrap each difference against the baseline → eval.json and report.html.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneforge.config import TuneforgeConfig, load_config
from tuneforge.data.types import RecordKind, Text
from tuneforge.errors import DataError, TuneforgeError
from tuneforge.evaluate.eval_models import EvalModels, load_models
from tuneforge.evaluate.heldout import EvalData, few_shot, load_eval_data
from tuneforge.evaluate.inference.scoring import generate_and_score
from tuneforge.evaluate.metrics.structure import load_schema_validator
from tuneforge.evaluate.metrics.tasks import (
    TaskResult,
    VariantOutputs,
    checks_task,
    classification_task,
    preference_task,
    similarity_task,
    structure_task,
)
from tuneforge.evaluate.plan import TaskPlan, plan_tasks
from tuneforge.evaluate.report.build import build_report
from tuneforge.evaluate.results import (
    EVAL_FILE,
    compare,
    example_entries,
    main_variant,
    new_document,
    overall_verdict,
    step_comparisons,
    task_entry,
    variant_entry,
)
from tuneforge.evaluate.retrieval import (
    RETRIEVAL_VARIANT,
    ExampleIndex,
    RetrievedShots,
    context_limit,
)
from tuneforge.evaluate.variants import (
    VariantSpec,
    encode_prompt,
    encode_reply,
    retrieval_shots,
    variant_specs,
)
from tuneforge.evaluate.wording import previous_sentence
from tuneforge.io import write_json_atomic
from tuneforge.target import RUN_CONFIG

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Progress = Callable[[str], None]


def run_variant(
    spec: VariantSpec, models: EvalModels, data: EvalData, plan: TaskPlan, batch_size: int
) -> VariantOutputs:
    """Everything one variant produces on the held-out items."""
    tokenizer = models.tokenizer
    prompts = [encode_prompt(item.prompt, spec, tokenizer) for item in data.items]
    run = VariantOutputs(spec.name, [len(p) for p in prompts])
    # Every continuation to score after each prompt: the labels (constrained choice), then
    # the reference reply and, for pairs, the rejected one (preference).
    labels = [
        [encode_reply(item.prompt, label, spec, tokenizer) for label in plan.labels or []]
        for item in data.items
    ]
    replies = [
        [
            encode_reply(item.prompt, reply, spec, tokenizer)
            for reply in [item.reference, *([item.rejected] if item.rejected is not None else [])]
        ]
        if plan.preference
        else []
        for item in data.items
    ]
    groups = [a + b for a, b in zip(labels, replies, strict=True)]
    started = time.monotonic()
    with models.use(spec.model) as model:
        answers, scores = generate_and_score(
            model,
            tokenizer,
            prompts,
            groups if any(groups) else None,
            max_new_tokens=plan.max_new_tokens if plan.needs_generation else None,
            batch_size=batch_size,
        )
    reference = None
    if plan.preference and spec.model == "tuned":
        # Implicit rewards need the base model's log-probs of the same replies and prompts.
        with models.use("base") as model:
            _, reference = generate_and_score(
                model, tokenizer, prompts, replies, max_new_tokens=None, batch_size=batch_size
            )
    run.seconds = time.monotonic() - started
    run.answers = answers
    count = len(plan.labels or [])
    if scores is not None and plan.labels is not None:
        run.choice_logps = [[s.logp for s in row[:count]] for row in scores]
    if scores is not None and plan.preference:
        scored = [row[count:] for row in scores]
        if data.kind is RecordKind.PAIR:
            run.chosen_logps = [row[0].logp for row in scored]
            run.rejected_logps = [row[1].logp for row in scored]
        else:
            run.scored_logps = [row[0].mean_logp for row in scored]
        if reference is not None:
            run.rewards = [
                [a.logp - b.logp for a, b in zip(own, base, strict=True)]
                for own, base in zip(scored, reference, strict=True)
            ]
    return run


def retrieval_for(
    cfg: TuneforgeConfig, data: EvalData, models: EvalModels, plan: TaskPlan
) -> RetrievedShots:
    """The retrieved shots of ``baseline+retrieval``: an index of the train records only
    (held-out requests excluded even when duplicated in train), fitted to the base model's
    context less the generation budget."""
    index = ExampleIndex(data.train, exclude=[item.prompt for item in data.items])
    with models.use("base") as model:
        limit = context_limit(model, models.tokenizer)
    room = None if limit is None else limit - plan.max_new_tokens
    return retrieval_shots(cfg, index, models.tokenizer, room)


def compute_tasks(
    plan: TaskPlan, data: EvalData, runs: dict[str, VariantOutputs], validator: Any | None = None
) -> list[TaskResult]:
    """Every planned task's metrics from the variants' outputs (no model needed).

    ``validator`` is the jsonschema validator of ``plan.schema_path``, loaded up front so a
    broken schema fails before minutes of inference.
    """
    tasks: list[TaskResult] = []
    if plan.labels is not None:
        tasks.append(classification_task(plan.labels, data.items, runs))
    if plan.structure:
        tasks.append(structure_task(data.items, runs, validator))
    if plan.checks:
        tasks.append(checks_task(plan.checks, runs))
    if plan.preference:
        tasks.append(preference_task(data.items, runs))
    if plan.similarity:
        tasks.append(similarity_task(data.items, runs))
    return tasks


@dataclass
class EvalSetup:
    """What every variant is measured on: the held-out items, the tasks, the few-shot turns."""

    data: EvalData
    plan: TaskPlan
    shots: list[tuple[Text, str]]
    validator: Any | None = None
    """The jsonschema validator of ``plan.schema_path``, loaded before any inference."""


def prepare_eval(
    cfg: TuneforgeConfig, run_dir: Path | None, tokenizer: PreTrainedTokenizerBase
) -> EvalSetup:
    """The held-out items, the task plan and the baseline's few-shot turns of ``cfg``.

    A broken JSON schema fails here, before minutes of inference.
    """
    data = load_eval_data(cfg, run_dir)
    if not data.items:
        raise DataError(f"{data.source}: no held-out examples to evaluate")
    plan = plan_tasks(cfg, data, tokenizer)
    validator = load_schema_validator(plan.schema_path) if plan.schema_path else None
    settings = cfg.eval
    shots = few_shot(data.train, settings.baseline_few_shot, seed=settings.seed, labels=plan.labels)
    return EvalSetup(data, plan, shots, validator)


def evaluate(
    cfg: TuneforgeConfig,
    run_dir: Path | None,
    *,
    models: EvalModels | None = None,
    progress: Progress | None = None,
    allow_pickle: bool = False,
) -> dict[str, Any]:
    """Evaluate every variant of ``cfg.eval.variants`` and return the eval.json document.

    ``models`` defaults to the run's models (`load_models`); variants that need a tuned model
    are skipped when there is none.
    """
    say = progress or (lambda _message: None)
    models = models or load_models(cfg, run_dir, allow_pickle=allow_pickle)
    setup = prepare_eval(cfg, run_dir, models.tokenizer)
    data = setup.data
    base_only = ("baseline", RETRIEVAL_VARIANT)
    names = [n for n in cfg.eval.variants if n in base_only or models.tuned is not None]
    retrieved = retrieval_for(cfg, data, models, setup.plan) if RETRIEVAL_VARIANT in names else None
    specs = variant_specs(cfg, setup.shots, names, retrieved)
    tasks = ", ".join(setup.plan.tasks)
    say(f"{len(data.items)} held-out examples from {data.source}; tasks: {tasks}")
    runs: dict[str, VariantOutputs] = {}
    for spec in specs:
        say(f"{spec.name}: {spec.describe()}")
        runs[spec.name] = run_variant(spec, models, data, setup.plan, cfg.eval.batch_size)
        say(f"{spec.name}: done in {runs[spec.name].seconds:.0f} s")
    # A tuned model is also measured against the retrieval baseline, the honest opponent.
    previous = (
        {name: RETRIEVAL_VARIANT for name in names if name not in base_only}
        if RETRIEVAL_VARIANT in names
        else None
    )
    return build_document(cfg, run_dir, setup, specs, runs, previous=previous)


def build_document(
    cfg: TuneforgeConfig,
    run_dir: Path | None,
    setup: EvalSetup,
    specs: Sequence[VariantSpec],
    runs: Mapping[str, VariantOutputs],
    *,
    main: str | None = None,
    previous: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The eval.json document from every variant's outputs (no model needed).

    Every metric is compared with the baseline; ``main`` is the variant the verdict is about
    (default: ``tuned``, else ``tuned+prompt``). ``previous`` maps a variant to the one before
    it (a pipeline's steps): each task then also holds ``previous.NAME``, the differences
    against that step (`step_comparisons`).
    """
    data, plan, settings = setup.data, setup.plan, cfg.eval
    tasks = compute_tasks(plan, data, dict(runs), setup.validator)
    price = settings.price_per_million_tokens
    base_tokens = sum(runs["baseline"].prompt_tokens) / len(data.items)
    variants = {
        spec.name: variant_entry(spec, runs[spec.name], base_tokens, price) for spec in specs
    }
    for spec in specs:
        if spec.retrieval is not None:
            prompts = [item.prompt for item in data.items]
            variants[spec.name]["retrieval"] = spec.retrieval.summary(prompts)
    task_entries = {
        task.name: task_entry(
            task,
            compare(
                task,
                "baseline",
                samples=settings.bootstrap_samples,
                seed=settings.seed,
                confidence=settings.confidence,
            ),
            settings.confidence,
            main=main,
        )
        for task in tasks
    }
    if previous:
        for task in tasks:
            entry = task_entries[task.name]
            entry["previous"] = step_comparisons(
                task,
                previous,
                samples=settings.bootstrap_samples,
                seed=settings.seed,
                confidence=settings.confidence,
            )
            # The verdict also says how the main variant fared against the step before it:
            # against the best context engineering, not only against the plain baseline.
            chosen = main_variant(entry["comparisons"], main)
            extra = previous_sentence(entry, chosen) if chosen else None
            if extra and entry.get("summary"):
                entry["summary"] = f"{entry['summary']} {extra}"
    return new_document(
        run_dir=str(run_dir) if run_dir is not None else None,
        method=cfg.method,
        model=cfg.model.path,
        held_out={
            "source": data.source,
            "examples": len(data.items),
            "available": data.available,
            "train_source": cfg.data.train,
            "train_examples": len(data.train),
            "kind": data.kind,
        },
        settings={
            "bootstrap_samples": settings.bootstrap_samples,
            "confidence": settings.confidence,
            "seed": settings.seed,
            "max_new_tokens": plan.max_new_tokens,
            "price_per_million_tokens": price,
        },
        variants=variants,
        tasks=task_entries,
        verdict=overall_verdict(task_entries, variants, price, main=main),
        examples=example_entries(data.items, runs, tasks),
    )


def write_eval(run_dir: Path, document: dict[str, Any]) -> Path:
    """Write eval.json into the run directory (atomically) and return its path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / EVAL_FILE
    write_json_atomic(path, document)
    return path


@dataclass
class EvalOutcome:
    """An evaluation written to its run directory: the eval.json document and the two files."""

    document: dict[str, Any]
    eval_path: Path
    report_path: Path


def evaluate_run(
    cfg: TuneforgeConfig,
    run_dir: Path,
    *,
    models: EvalModels | None = None,
    progress: Progress | None = None,
    allow_pickle: bool = False,
) -> EvalOutcome:
    """`evaluate`, then eval.json and report.html into ``run_dir``: what ``tuneforge eval``
    and the quickstart both run."""
    document = evaluate(cfg, run_dir, models=models, progress=progress, allow_pickle=allow_pickle)
    eval_path = write_eval(run_dir, document)
    return EvalOutcome(document, eval_path, build_report(run_dir, document))


def resolve_target(target: Path, overrides: Sequence[str]) -> tuple[TuneforgeConfig, Path]:
    """(config, run directory) of ``tuneforge eval CONFIG|RUN_DIR``.

    A run directory brings its resolved config.yaml; a config file points at its ``output``.
    """
    if target.is_dir():
        config = target / RUN_CONFIG
        if not config.is_file():
            raise TuneforgeError(
                f"{target}: not a run directory (no {RUN_CONFIG}); pass the run directory "
                "written by `tuneforge train`, or a config file"
            )
        return load_config(config, overrides), target
    cfg = load_config(target, overrides)
    return cfg, cfg.run_dir()
