"""What tuneforge agrees to load: weights from safetensors only, and no code from a model folder.

A pickle file (``pytorch_model.bin``, ``adapter_model.bin``, ``*.pt``...) is a program: loading
it can run code from the file. tuneforge refuses a folder whose weights exist only as pickle
unless the user passes ``--allow-pickle`` (then it warns, naming the file and the risk, and the
libraries still unpickle through torch's restricted ``weights_only`` loader). A model folder's
own Python code (``auto_map`` in config.json) runs only when the config sets
``trust_remote_code: true``. `LoadPolicy` carries both decisions to every ``from_pretrained``.

Shared ground: imports errors only.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tuneforge.errors import ModelLoadError

if TYPE_CHECKING:
    from tuneforge.config import TuneforgeConfig

ALLOW_PICKLE_FLAG = "--allow-pickle"
PICKLE_RISK = "loading pickle weights can run code from the file"
#: Suffixes of files torch (or pickle) would unpickle.
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"})
#: The weight files ``from_pretrained`` reads, by kind of folder: (safetensors, pickle).
MODEL_WEIGHTS = (
    ("model.safetensors", "model.safetensors.index.json"),
    ("pytorch_model.bin", "pytorch_model.bin.index.json"),
)
ADAPTER_WEIGHTS = (("adapter_model.safetensors",), ("adapter_model.bin",))


@dataclass(frozen=True)
class LoadPolicy:
    """How far a load may trust the files it reads (the default trusts nothing)."""

    allow_pickle: bool = False
    """Pickle weights may be loaded when a folder has no safetensors (``--allow-pickle``)."""
    trust_remote_code: bool = False
    """A model folder's own Python code may run (config ``trust_remote_code: true``)."""

    @classmethod
    def of(cls, cfg: TuneforgeConfig | None, *, allow_pickle: bool = False) -> LoadPolicy:
        """The policy of a run: the command line's ``--allow-pickle``, the config's code flag."""
        trust = bool(cfg.trust_remote_code) if cfg is not None else False
        return cls(allow_pickle=allow_pickle, trust_remote_code=trust)

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``AutoModelForCausalLM.from_pretrained``.

        ``use_safetensors=True`` makes transformers refuse pickle weights (on the hub too);
        None lets it fall back to them when no safetensors file exists.
        """
        return {
            "use_safetensors": None if self.allow_pickle else True,
            "trust_remote_code": self.trust_remote_code,
        }

    def tokenizer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``AutoTokenizer.from_pretrained``."""
        return {"trust_remote_code": self.trust_remote_code}


SAFE = LoadPolicy()


def check_weights(
    folder: Path,
    policy: LoadPolicy,
    *,
    adapter: bool = False,
    warn_to: TextIO | None = None,
) -> None:
    """Refuse ``folder`` when its weights exist only as pickle, unless ``policy`` allows it.

    A folder with safetensors weights passes (they are what gets loaded); one with neither is
    left to ``from_pretrained``'s own error. With ``allow_pickle`` the pickle load goes ahead
    with a warning on ``warn_to`` (stderr) that names the file and the risk.
    """
    safe_names, pickle_names = ADAPTER_WEIGHTS if adapter else MODEL_WEIGHTS
    if any((folder / name).is_file() for name in safe_names):
        return
    pickled = [name for name in pickle_names if (folder / name).is_file()]
    if not pickled:
        pickled = sorted(
            p.name for p in folder.iterdir() if p.is_file() and p.suffix in PICKLE_SUFFIXES
        )
    if not pickled:
        return
    files = ", ".join(pickled)
    if not policy.allow_pickle:
        raise ModelLoadError(
            f"{folder}: tuneforge refuses pickle weights ({files}; no safetensors file): "
            f"{PICKLE_RISK}. Convert them to safetensors (model.save_pretrained in a trusted "
            f"environment), or pass {ALLOW_PICKLE_FLAG} if you trust the file"
        )
    warn_pickle(f"{folder / pickled[0]}", warn_to)


def warn_pickle(what: str, stream: TextIO | None = None) -> None:
    """One warning line: ``what`` is loaded from pickle, and why that is dangerous."""
    print(
        f"warning: {ALLOW_PICKLE_FLAG}: loading pickle weights from {what}; {PICKLE_RISK} "
        "(torch's restricted unpickler is used, but load only files you trust)",
        file=stream or sys.stderr,
        flush=True,
    )
