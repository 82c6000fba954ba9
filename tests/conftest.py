"""Shared fixtures: the embedded tokenizer and a tiny random Llama built on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accelerate.state import AcceleratorState, GradientState
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tuneforge.models import build_tiny_model, load_tokenizer


@pytest.fixture(autouse=True)
def fresh_accelerator_state() -> Iterator[None]:
    """Each test starts without the precision a previous test's run left in accelerate.

    accelerate keeps its state in a process-wide singleton: a ``train()`` under bf16 autocast
    would otherwise make a later test's plain ``Accelerator(cpu=True)`` run in bf16 too.
    """
    yield
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()


@pytest.fixture(scope="session")
def embedded_tokenizer() -> PreTrainedTokenizerBase:
    """The real SmolLM2 tokenizer (converted into the cache on first use, then ~1 s)."""
    return load_tokenizer("embedded")


@pytest.fixture()
def tiny_model(embedded_tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """A 2-layer, 64-wide random Llama with the embedded vocabulary; same weights every time."""
    return build_tiny_model(embedded_tokenizer, seed=0)


@pytest.fixture()
def base_dir(tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase) -> Path:
    """A tiny random model saved like a hub model, to stand in for a run's base model."""
    folder = tmp_path / "base"
    build_tiny_model(embedded_tokenizer, seed=0).save_pretrained(folder)
    embedded_tokenizer.save_pretrained(folder)
    return folder
