"""Which model families tuneforge supports, what it knows about each, and the load-time check.

"Supported" means: a decoder-only causal LM (an ``AutoModelForCausalLM`` architecture) whose
family has been trained with every method in the test suite (``tests/integration/
test_model_families.py``: loss masks, packed against padded log-probs, the reference pass and
reloading ``final/``). Three outcomes when a model loads (`check_family`):

* a tested family (`TESTED_FAMILIES`): loads silently;
* another causal LM (``AutoModelForCausalLM`` knows it, or its own code registers one under
  ``trust_remote_code``): loads with a `UntestedFamilyWarning`; sequences are then run padded,
  never packed, and the output head runs on every position, the safe choices for an
  attention and a head we have not checked;
* anything else (an encoder such as BERT, an encoder-decoder such as T5, a config transformers
  has no causal-LM class for): refused with a `ModelLoadError` naming the ``model_type``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from tuneforge.errors import ModelLoadError

if TYPE_CHECKING:
    from tuneforge.safe_loading import LoadPolicy

#: Families trained with every method in tests/integration/test_model_families.py (tiny random
#: models with a template of each family's shape) besides the embedded SmolLM2 (``llama``).
TESTED_FAMILIES = frozenset({"llama", "qwen2", "mistral", "gemma", "phi3"})

#: Model families whose logits are exactly ``lm_head(last_hidden_state)`` (no soft-capping or
#: scaling), so the head can be applied to the learned positions alone (``methods/logps.py``).
#: Gemma scales its input embeddings, not its logits; Gemma 2 soft-caps its logits (absent).
PLAIN_HEAD_FAMILIES = frozenset(
    {"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "olmo2", "smollm3", "starcoder2"}
)
#: Model families whose transformers 5.24 attention (sdpa, eager, flash) keeps sequences
#: packed in one row apart when ``position_ids`` restart at 0 and no attention mask is given
#: (``masking_utils.find_packed_sequence_indices``; the model must run with use_cache=False).
PACKED_FAMILIES = frozenset(
    {"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "olmo2", "smollm3", "starcoder2"}
)


class UntestedFamilyWarning(UserWarning):
    """A causal LM of a family the test suite has not trained (it runs, unpacked)."""


def family_problem(config: Any) -> str | None:
    """Why a model with this transformers ``config`` cannot be trained, or None if it can."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
    )

    model_type = getattr(config, "model_type", None) or "unknown"
    if getattr(config, "is_encoder_decoder", False) or (
        model_type in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES
    ):
        return (
            f"model_type '{model_type}' is an encoder-decoder (seq2seq) model; tuneforge trains "
            "decoder-only causal language models"
        )
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and model_type not in TESTED_FAMILIES:
        return (
            f"model_type '{model_type}' is an encoder (masked language model); tuneforge trains "
            "decoder-only causal language models"
        )
    remote = "AutoModelForCausalLM" in (getattr(config, "auto_map", None) or {})
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not remote:
        return (
            f"model_type '{model_type}' has no causal-LM architecture in transformers "
            "(AutoModelForCausalLM does not know it); tuneforge trains decoder-only causal "
            "language models"
        )
    return None


def check_family(config: Any, name: str) -> None:
    """Refuse (`ModelLoadError`) a model tuneforge cannot train; warn about an untested one.

    ``name`` is the model as the user wrote it, for the message.
    """
    problem = family_problem(config)
    if problem is not None:
        raise ModelLoadError(f"cannot train model '{name}': {problem}")
    model_type = getattr(config, "model_type", None)
    if model_type not in TESTED_FAMILIES:
        tested = ", ".join(sorted(TESTED_FAMILIES))
        warnings.warn(
            f"model '{name}': model_type '{model_type}' is a causal LM of a family tuneforge "
            f"has not tested (tested: {tested}); it trains with padded rows and full logits",
            UntestedFamilyWarning,
            stacklevel=3,
        )


def check_model_family(source: str, name: str, policy: LoadPolicy) -> None:
    """`check_family` on the config at ``source`` (a folder or hub id), before weights load.

    A config that cannot be read here is left to the model loader, which explains why.
    """
    from transformers import AutoConfig

    kwargs = {"trust_remote_code": policy.trust_remote_code}
    try:
        config = AutoConfig.from_pretrained(source, **kwargs)
    except (OSError, ValueError):
        return
    check_family(config, name)
