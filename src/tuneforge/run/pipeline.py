"""``tuneforge run PIPELINE.yaml``: several stages, each from the previous stage's merged model.

The output folder::

    pipeline.json        stages (config hash, input hashes, status, timings), the evaluation
    eval.jsonl           the frozen held-out split (when data.eval is not given)
    data/NAME.jsonl      a stage's training rows without the held-out prompts (same case)
    pairs/NAME.jsonl     a ``pairs_from`` stage's pairs (`tuneforge pairs`)
    stages/NAME/         an ordinary run directory per stage; merged/ holds its merged model
    eval-cache/          each step's evaluation outputs, keyed by what they depend on
    eval.json            one variant per step: baseline, baseline+retrieval, then each stage
    report.html          one column per step

A stage after the first trains from ``stages/PREVIOUS/merged`` (its LoRA adapter merged into
the weights it was trained on), so a DPO or KTO stage's reference model is the previous
stage's merged model. A stage's config hash covers its resolved config (shared evaluation
settings and paths left out), the SHA-256 of its input files and the hash of the stage before
it, so a change reruns that stage and every one after it; an unchanged stage is skipped, an
interrupted one resumes from its last checkpoint, and ``force`` reruns everything.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tuneforge.config import TuneforgeConfig
from tuneforge.config.pipeline import STAGES_DIR, Pipeline, PipelineStage
from tuneforge.engine.checkpoint import latest_checkpoint
from tuneforge.engine.loop import WindowResult
from tuneforge.engine.stop import StoppedWithoutSaving
from tuneforge.evaluate.report.build import build_report
from tuneforge.evaluate.runner import write_eval
from tuneforge.evaluate.steps import StageStep, evaluate_steps
from tuneforge.io import file_sha256, write_json_atomic
from tuneforge.run.pairs import PairsOptions, write_mistake_pairs
from tuneforge.run.pipeline_data import (
    TRAIN_DIR,
    eval_kind_stage,
    freeze_held_out,
    reads,
    write_train_without,
)
from tuneforge.run.pipeline_state import (
    MERGED_DIR,
    STATE_FILE,
    StageRecord,
    now,
    read_state,
    sha256_text,
    stage_hash,
    write_merged,
)
from tuneforge.run.stage import train
from tuneforge.safe_loading import LoadPolicy
from tuneforge.target import FINAL_DIR, tuned_system_prompt

CACHE_DIR = "eval-cache"
Log = Callable[[str], None]
StepHook = Callable[[str, int, WindowResult], None]


@dataclass
class PipelineOutcome:
    """What a pipeline run did and where it wrote."""

    output: Path
    stages: list[StageRecord]
    interrupted: bool = False
    eval_path: Path | None = None
    report_path: Path | None = None
    document: dict[str, Any] | None = None


def pairs_stamp(pairs: Path) -> Path:
    """Where a pipeline records what ``pairs`` were made from: ``PAIRS.source.json``."""
    return pairs.with_name(pairs.stem + ".source.json")


class _Runner:
    """One `run_pipeline` call: the state it writes and the stages it walks."""

    def __init__(self, pipe: Pipeline, *, force: bool, on_step: StepHook | None, log: Log):
        self.pipe, self.force, self.on_step, self.log = pipe, force, on_step, log
        self.output = pipe.output
        old = read_state(self.output)
        self.previous = {
            r["name"]: r for r in old.get("stages", []) if isinstance(r, dict) and "name" in r
        }
        self.records = [StageRecord(s.name, s.config.method) for s in pipe.stages]
        self.state: dict[str, Any] = {
            "pipeline": str(pipe.source),
            "model": pipe.config.model.path,
            "status": "running",
            "started": now(),
            "finished": None,
            "held_out": None,
            "stages": [],
            "evaluation": {"status": "pending"},
        }
        self.configs: dict[str, TuneforgeConfig] = {}
        self.hashes: dict[str, str] = {}

    def save(self) -> None:
        """pipeline.json, atomically: called after every change of status."""
        self.state["stages"] = [asdict(record) for record in self.records]
        write_json_atomic(self.output / STATE_FILE, self.state)

    def held_out(self) -> tuple[Path, set[str] | None]:
        """The held-out file, and the prompts to keep out of training (frozen split only)."""
        if self.pipe.config.data.eval:
            path = Path(self.pipe.config.data.eval)
            self.state["held_out"] = {"path": str(path), "frozen_split": False}
            return path, None
        first = self.pipe.stages[0].config
        path, prompts = freeze_held_out(first, self.output)
        self.state["held_out"] = {"path": str(path), "frozen_split": True, "from": first.data.train}
        return path, prompts

    def stage_config(
        self, stage: PipelineStage, model: str, held_out: Path, prompts: set[str] | None
    ) -> TuneforgeConfig:
        """The stage's config as it trains: its model, its training rows, the held-out set."""
        cfg = stage.config
        data = cfg.data.model_dump()
        if prompts is not None and stage.pairs_from is None:
            target = self.output / TRAIN_DIR / f"{stage.name}.jsonl"
            target.parent.mkdir(parents=True, exist_ok=True)
            path, dropped = write_train_without(cfg, prompts, target)
            data["train"] = str(path)
            if dropped:
                self.log(f"{stage.name}: {dropped} training rows left out (held-out prompts)")
        kind = cfg.method_spec.record_kind
        # A stage that cannot read the held-out rows (SFT rows for a DPO stage) keeps its own
        # split for its held-out loss; the pipeline's evaluation still uses the held-out set.
        usable = reads(held_out, kind, dict(cfg.columns) or None)
        data["eval"] = str(held_out) if usable else None
        # The stage keeps the pipeline's loading settings (dtype, attention) on its new path.
        update = {**cfg.model_dump(), "model": cfg.model.with_path(model), "data": data}
        return type(cfg).model_validate(update)

    def run(self) -> PipelineOutcome:
        self.output.mkdir(parents=True, exist_ok=True)
        held_out, prompts = self.held_out()
        self.save()
        first = self.pipe.config.model.path
        model, trained_from = first, f"model:{first}"
        for stage, record in zip(self.pipe.stages, self.records, strict=True):
            cfg = self.stage_config(stage, model, held_out, prompts)
            done = self.stage(stage, record, cfg, trained_from)
            if not done:
                return self.stop("interrupted")
            model, trained_from = str(record.model_dir), f"stage:{record.config_hash}"
        return self.evaluate(held_out)

    def stop(self, status: str) -> PipelineOutcome:
        self.state["status"] = status
        self.save()
        return PipelineOutcome(self.output, self.records, interrupted=status == "interrupted")

    def train_input(self, stage: PipelineStage, cfg: TuneforgeConfig) -> str | None:
        """The training data's hash: the file's, or for pairs what the pairs come from."""
        if stage.pairs_from is None:
            return file_sha256(cfg.data.train)
        options = asdict(self.pairs_options(stage))
        source = {"from": self.hashes[stage.pairs_from], "options": options}
        text = json.dumps(source, sort_keys=True, default=lambda v: v.model_dump(mode="json"))
        return "pairs:" + sha256_text(text)

    def pairs_options(self, stage: PipelineStage) -> PairsOptions:
        """How the pairs are made: the source stage's checks, prompt and template settings."""
        return PairsOptions.from_config(self.configs[str(stage.pairs_from)])

    def stage(
        self, stage: PipelineStage, record: StageRecord, cfg: TuneforgeConfig, trained_from: str
    ) -> bool:
        """Skip, resume or train one stage; False when it was interrupted."""
        digest, inputs = stage_hash(cfg, trained_from, self.train_input(stage, cfg))
        self.configs[stage.name], self.hashes[stage.name] = cfg, digest
        run_dir = cfg.run_dir()
        record.config_hash, record.input_hashes, record.run_dir = digest, inputs, str(run_dir)
        record.trained_from = trained_from
        old = self.previous.get(stage.name, {})
        same = not self.force and old.get("config_hash") == digest
        if same and old.get("status") in ("finished", "skipped") and (run_dir / FINAL_DIR).is_dir():
            record.status, record.seconds = "skipped", 0.0
            record.train_seconds = old.get("train_seconds")
            record.global_step = old.get("global_step")
            merged = run_dir / MERGED_DIR
            if not merged.is_dir():  # deleted, or a full fine-tune's (final/ is the model)
                merged = write_merged(
                    run_dir / FINAL_DIR, cfg.model.path, merged, policy=LoadPolicy.of(cfg)
                )
            record.model_dir = str(merged)
            self.log(f"{stage.name}: skipped (unchanged, config hash {digest[:12]})")
            self.save()
            return True
        resume = same and latest_checkpoint(run_dir) is not None
        earlier = float(old.get("train_seconds") or 0) if resume else 0.0
        if resume:
            self.log(f"{stage.name}: resuming from {latest_checkpoint(run_dir)}")
        else:
            if run_dir.exists():
                why = "rerun forced" if self.force else "config or inputs changed"
                self.log(f"{stage.name}: {why}; the previous run in {run_dir} is replaced")
                shutil.rmtree(run_dir)
            self.log(f"{stage.name}: training ({cfg.method}, config hash {digest[:12]})")
        if stage.pairs_from is not None:
            self.pairs(stage, cfg)
        return self.train(stage, record, cfg, resume=resume, earlier=earlier)

    def pairs(self, stage: PipelineStage, cfg: TuneforgeConfig) -> None:
        """Write the stage's pairs from the mistakes of its ``pairs_from`` stage's model.

        Pairs already written from the same source (same source stage hash and pairs options,
        recorded in `pairs_stamp`, and the file unchanged since) are reused: only the stage's
        own settings changed, and greedy replies of the same model would be the same pairs.
        """
        source = self.configs[str(stage.pairs_from)]
        target = Path(cfg.data.train)
        stamp = pairs_stamp(target)
        made_from = self.train_input(stage, cfg)
        if target.is_file() and stamp.is_file():
            try:
                recorded = json.loads(stamp.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # an unreadable stamp: make the pairs again
                recorded = None
            if recorded == {"source": made_from, "sha256": file_sha256(target)}:
                self.log(f"{stage.name}: pairs from {stage.pairs_from} unchanged, reused {target}")
                return
        target.parent.mkdir(parents=True, exist_ok=True)
        self.log(f"{stage.name}: pairs from the mistakes of {stage.pairs_from} → {target}")
        summary = write_mistake_pairs(
            str(source.run_dir()),
            Path(source.data.train),
            target,
            options=self.pairs_options(stage),
        )
        rows = f"{summary.rows} rows of {source.data.train}"
        self.log(f"{stage.name}: {summary.kept} pairs from the mistakes on {rows}")
        write_json_atomic(stamp, {"source": made_from, "sha256": file_sha256(target)})

    def train(
        self,
        stage: PipelineStage,
        record: StageRecord,
        cfg: TuneforgeConfig,
        *,
        resume: bool,
        earlier: float,
    ) -> bool:
        record.status, record.started, record.error = "running", now(), None
        self.save()
        hook = self.on_step
        on_step = (lambda step, window: hook(stage.name, step, window)) if hook else None
        started = time.monotonic()
        try:
            outcome = train(cfg, resume=resume, on_step=on_step)
        except (KeyboardInterrupt, StoppedWithoutSaving):
            outcome = None  # stopped at once, unsaved: the run resumes from its last checkpoint
        except BaseException as exc:
            record.status, record.error = "failed", str(exc).splitlines()[0] if str(exc) else ""
            record.seconds = round(time.monotonic() - started, 2)
            self.state["status"] = "failed"
            self.save()
            raise
        record.train_seconds = round(earlier + time.monotonic() - started, 2)
        if outcome is None or outcome.result.interrupted:
            record.status, record.seconds = "interrupted", record.train_seconds - earlier
            self.log(f"{stage.name}: interrupted; run the pipeline again to resume it")
            self.save()
            return False
        record.global_step = outcome.result.state.global_step
        folder = write_merged(
            Path(str(outcome.final_dir)),
            cfg.model.path,
            cfg.run_dir() / MERGED_DIR,
            policy=LoadPolicy.of(cfg),
        )
        record.model_dir, record.status, record.finished = str(folder), "finished", now()
        record.seconds = round(time.monotonic() - started, 2)
        self.log(f"{stage.name}: finished in {record.train_seconds:.0f} s; model {folder}")
        self.save()
        return True

    def evaluate(self, held_out: Path) -> PipelineOutcome:
        """One eval.json (a variant per step) and one report.html."""
        started = time.monotonic()
        self.state["evaluation"] = {"status": "running"}
        self.save()
        cfgs = list(self.configs.values())
        kind_cfg = eval_kind_stage(cfgs, str(held_out))
        eval_cfg = type(kind_cfg).model_validate(
            {
                **kind_cfg.model_dump(),
                "model": self.pipe.config.model,
                "data": {**kind_cfg.data.model_dump(), "eval": str(held_out)},
                # Unset keys stay unset: an explicit eval.variants chooses the base steps.
                "eval": self.pipe.config.eval.model_dump(exclude_unset=True),
            }
        )
        steps = [
            StageStep(
                name=record.name,
                folder=Path(str(record.model_dir)),
                key=str(record.config_hash),
                method=record.method,
                system_prompt=tuned_system_prompt(self.configs[record.name]),
                chat_template=self.configs[record.name].data.chat_template,
                train_seconds=record.train_seconds,
                run_dir=record.run_dir,
            )
            for record in self.records
        ]
        try:
            document = evaluate_steps(
                eval_cfg,
                self.pipe.config.model.path,
                steps,
                cache_dir=self.output / CACHE_DIR,
                progress=self.log,
            )
        except KeyboardInterrupt:
            self.state["evaluation"] = {"status": "interrupted"}
            self.log("evaluation interrupted; run the pipeline again to finish it")
            return self.stop("interrupted")
        document["run_dir"] = str(self.output)
        eval_path = write_eval(self.output, document)
        report = build_report(self.output, document)
        self.state["evaluation"] = {
            "status": "finished",
            "seconds": round(time.monotonic() - started, 2),
            "variants": {
                name: "cached" if v.get("cached") else "evaluated"
                for name, v in document["variants"].items()
            },
        }
        self.state["status"], self.state["finished"] = "finished", now()
        self.save()
        return PipelineOutcome(self.output, self.records, False, eval_path, report, document)


def run_pipeline(
    pipe: Pipeline,
    *,
    force: bool = False,
    on_step: StepHook | None = None,
    log: Log = print,
) -> PipelineOutcome:
    """Train every stage of ``pipe`` in order, then evaluate every step (module docstring).

    ``force`` reruns every stage; ``on_step(stage, step, window)`` is called after each
    optimizer step (progress, tests). Stops with ``interrupted`` set when a stage is
    interrupted (Ctrl-C): running it again resumes that stage from its checkpoint.
    """
    return _Runner(pipe, force=force, on_step=on_step, log=log).run()


__all__ = [
    "MERGED_DIR",
    "STAGES_DIR",
    "STATE_FILE",
    "PipelineOutcome",
    "StageRecord",
    "run_pipeline",
    "stage_hash",
    "write_merged",
]
