"""The Ollama Modelfile: golden text, and its TEMPLATE renders what the chat template renders."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerBase

from go_template import render
from tuneforge.export.ollama import go_template, modelfile
from tuneforge.export.template import TemplateError, stop_tokens, turn_format

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "Modelfile.chatml"

LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)
# Mistral-style: the system prompt folded into the first user turn; no common turn footer.
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token }}{% else %}{{ message['content'] + '\n' }}{% endif %}"
    "{% endfor %}"
)

CONVERSATION = [
    {"role": "user", "content": "Where is my parcel?"},
    {"role": "assistant", "content": "shipping"},
    {"role": "user", "content": "I was charged twice.\nWhy?"},
]


def _llama3(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """The embedded tokenizer with Llama-3's special tokens and chat template."""
    llama = copy.deepcopy(tokenizer)
    specials = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    llama.add_special_tokens(
        {"bos_token": "<|begin_of_text|>", "additional_special_tokens": specials}
    )
    llama.chat_template = LLAMA3_TEMPLATE
    return llama


def _ollama_render(template: str, system: str | None, messages: list[dict[str, str]]) -> str:
    """What Ollama renders: ``.System`` from the system message or the Modelfile's SYSTEM."""
    given = [m["content"] for m in messages if m["role"] == "system"]
    turns = [{"Role": m["role"], "Content": m["content"]} for m in messages]
    return render(template, {"System": "\n\n".join(given) or system, "Messages": turns})


def test_modelfile_matches_the_golden_file(embedded_tokenizer: PreTrainedTokenizerBase) -> None:
    text = modelfile(
        turn_format(embedded_tokenizer),
        system_prompt="Route each support message to one team.",
        stop=stop_tokens(embedded_tokenizer, chat=True),
        context_length=8192,
        source="runs/quickstart",
    )
    assert text == GOLDEN.read_text(encoding="utf-8")


@pytest.mark.parametrize("system", ["Route each support message to one team.", None])
def test_chatml_template_renders_like_the_chat_template(
    embedded_tokenizer: PreTrainedTokenizerBase, system: str | None
) -> None:
    turns = turn_format(embedded_tokenizer)
    template = go_template(turns)
    # What the Modelfile's SYSTEM holds: the run's prompt, else the template's default one.
    modelfile_system = system if system is not None else turns.default_system
    messages = ([{"role": "system", "content": system}] if system else []) + CONVERSATION
    expected = embedded_tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )
    assert _ollama_render(template, modelfile_system, messages) == expected
    # A conversation that ends with the assistant's reply is left open, as Ollama continues it.
    closed = [*messages, {"role": "assistant", "content": "billing"}]
    full = embedded_tokenizer.apply_chat_template(closed, tokenize=False)
    assert full.startswith(_ollama_render(template, modelfile_system, closed))
    assert stop_tokens(embedded_tokenizer, chat=True) == ["<|im_end|>"]
    assert turns.default_system and "SmolLM" in turns.default_system


def test_llama3_template_renders_like_the_chat_template(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    llama = _llama3(embedded_tokenizer)
    turns = turn_format(llama)
    assert turns.bos_text == "<|begin_of_text|>" and turns.default_system is None
    messages = [{"role": "system", "content": "Be brief."}, *CONVERSATION]
    expected = llama.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # llama.cpp adds BOS itself (the GGUF's add-BOS flag): the TEMPLATE leaves it out.
    rendered = _ollama_render(go_template(turns), "Be brief.", messages)
    assert turns.bos_text + rendered == expected
    assert "<|eot_id|>" in stop_tokens(llama, chat=True)


def test_untranslatable_template_is_a_clear_error(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    mistral = copy.deepcopy(embedded_tokenizer)
    mistral.chat_template = MISTRAL_TEMPLATE
    with pytest.raises(TemplateError, match="cannot translate the chat template"):
        turn_format(mistral)
    with pytest.raises(TemplateError, match="no chat template"):
        plain = copy.deepcopy(embedded_tokenizer)
        plain.chat_template = None
        turn_format(plain)


def test_go_template_renderer_trims_and_branches() -> None:
    source = '{{- if eq .A "x" -}}  yes  {{- else if .B }}b{{ else }}no{{ end }}|{{ len .L }}'
    assert render(source, {"A": "x", "B": "", "L": [1, 2]}) == "yes|2"
    assert render(source, {"A": "y", "B": "1", "L": []}) == "b|0"
    assert render(source, {"A": "y", "B": "", "L": [1]}) == "no|1"
