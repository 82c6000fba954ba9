"""Token ids and loss masks on the embedded tokenizer, for every record format."""

from __future__ import annotations

import copy

import pytest
from transformers import PreTrainedTokenizerBase

from tuneforge.data.tokenize import (
    IGNORE_INDEX,
    TokenizedPair,
    TokenizedScored,
    TokenizedSFT,
    TokenizeSettings,
    example_token_lengths,
    tokenize_example,
    tokenize_examples,
)
from tuneforge.data.types import Origin, PairExample, ScoredExample, SFTExample
from tuneforge.errors import DataError

ORIGIN = Origin("data.jsonl", 7)
# The template's default system turn: SmolLM2's built-in system prompt.
DEFAULT_SYSTEM = [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28]
DEFAULT_SYSTEM += [7018, 411, 407, 19712, 8182, 2, 198]
USER_HI = [1, 4093, 198, 26843, 2, 198]  # <|im_start|>user\nHi<|im_end|>\n
ASSISTANT = [1, 520, 9531, 198]  # <|im_start|>assistant\n
HELLO = [19556, 17, 2, 198]  # Hello!<|im_end|>\n
M = IGNORE_INDEX


def chat_ids(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> list[int]:
    """What the tokenizer's own apply_chat_template produces."""
    return list(tokenizer.apply_chat_template(messages, tokenize=True)["input_ids"])


def test_prompt_completion_strings_use_chat_template(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    item = tokenize_example(
        SFTExample(ORIGIN, prompt="Hi", completion="Hello!"), embedded_tokenizer, TokenizeSettings()
    )
    assert isinstance(item, TokenizedSFT)
    assert item.input_ids == DEFAULT_SYSTEM + USER_HI + ASSISTANT + HELLO
    assert item.labels == [M] * 31 + HELLO
    assert item.input_ids == chat_ids(
        embedded_tokenizer,
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    )


def test_system_prompt_replaces_the_template_default(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    settings = TokenizeSettings(system_prompt="Be brief.")
    item = tokenize_example(
        SFTExample(ORIGIN, prompt="Hi", completion="Hello!"), embedded_tokenizer, settings
    )
    system = [1, 9690, 198, 6077, 5453, 30, 2, 198]  # <|im_start|>system\nBe brief.<|im_end|>\n
    assert item.input_ids == system + USER_HI + ASSISTANT + HELLO
    assert item.labels == [M] * 18 + HELLO


def test_multi_turn_learns_every_assistant_turn_and_nothing_else(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "See you."},
    ]
    item = tokenize_example(
        SFTExample(ORIGIN, messages=copy.deepcopy(messages)),
        embedded_tokenizer,
        TokenizeSettings(),
    )
    see_you = [7574, 346, 30, 2, 198]
    user_bye = [1, 4093, 198, 3087, 85, 2, 198]
    system = [1, 9690, 198, 6077, 5453, 30, 2, 198]
    assert item.input_ids == system + USER_HI + ASSISTANT + HELLO + user_bye + ASSISTANT + see_you
    assert item.labels == [M] * 18 + HELLO + [M] * 11 + see_you
    assert item.input_ids == chat_ids(embedded_tokenizer, messages)


def test_raw_text_mode_appends_eos_and_masks_the_prompt(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    settings = TokenizeSettings(chat_template=False)
    item = tokenize_example(
        SFTExample(ORIGIN, prompt="Hi", completion="Hello!"), embedded_tokenizer, settings
    )
    assert item.input_ids == [26843, 198, 19556, 17, 2]  # Hi\n Hello ! <|im_end|>
    assert item.labels == [M, M, 19556, 17, 2]


def test_tokenizer_without_template_falls_back_to_raw_text(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    bare = copy.deepcopy(embedded_tokenizer)
    bare.chat_template = None
    item = tokenize_example(
        SFTExample(ORIGIN, prompt="Hi", completion="Hello!"), bare, TokenizeSettings()
    )
    assert item.input_ids == [26843, 198, 19556, 17, 2]


def test_pair_shares_the_prompt_and_splits_replies(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    pair = PairExample(ORIGIN, prompt="Hi", chosen="Hello!", rejected="See you.")
    item = tokenize_example(pair, embedded_tokenizer, TokenizeSettings())
    assert isinstance(item, TokenizedPair)
    assert item.prompt_ids == DEFAULT_SYSTEM + USER_HI + ASSISTANT
    assert item.chosen_ids == HELLO
    assert item.rejected_ids == [7574, 346, 30, 2, 198]


def test_chat_list_prompt_and_scored_record(embedded_tokenizer: PreTrainedTokenizerBase) -> None:
    record = ScoredExample(
        ORIGIN,
        prompt=[{"role": "user", "content": "Hi"}],
        completion=[{"role": "assistant", "content": "Hello!"}],
        score=4.0,
        desirable=True,
    )
    item = tokenize_example(record, embedded_tokenizer, TokenizeSettings())
    assert isinstance(item, TokenizedScored)
    assert item.prompt_ids == DEFAULT_SYSTEM + USER_HI + ASSISTANT
    assert item.completion_ids == HELLO
    assert item.desirable is True


def test_truncation_keeps_the_start_and_drops_prompt_only_examples(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    records = [
        SFTExample(ORIGIN, prompt="Hi", completion="Hello!"),
        SFTExample(Origin("data.jsonl", 8), prompt="Hi", completion="Hello!"),
    ]
    fits = tokenize_examples(records[:1], embedded_tokenizer, TokenizeSettings(max_length=35))
    assert fits.truncated == 0 and not fits.dropped
    cut = tokenize_examples(records, embedded_tokenizer, TokenizeSettings(max_length=33))
    assert cut.truncated == 2
    assert cut.items[0].input_ids == DEFAULT_SYSTEM + USER_HI + ASSISTANT + [19556, 17]
    assert cut.items[0].labels == [M] * 31 + [19556, 17]
    dropped = tokenize_examples(records, embedded_tokenizer, TokenizeSettings(max_length=31))
    assert dropped.items == [] and dropped.dropped == [ORIGIN, Origin("data.jsonl", 8)]


def test_pair_truncation_and_drop(embedded_tokenizer: PreTrainedTokenizerBase) -> None:
    pair = PairExample(ORIGIN, prompt="Hi", chosen="Hello!", rejected="See you.")
    item = tokenize_example(pair, embedded_tokenizer, TokenizeSettings(max_length=34))
    assert item.chosen_ids == HELLO[:3] and item.rejected_ids == [7574, 346, 30]
    assert item.truncated
    assert tokenize_example(pair, embedded_tokenizer, TokenizeSettings(max_length=31)) is None


def test_example_token_lengths(embedded_tokenizer: PreTrainedTokenizerBase) -> None:
    pair = PairExample(ORIGIN, prompt="Hi", chosen="Hello!", rejected="See you.")
    assert example_token_lengths(pair, embedded_tokenizer) == (31, 36)
    conversation = SFTExample(
        ORIGIN,
        messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    )
    assert example_token_lengths(conversation, embedded_tokenizer) == (31, 35)
    raw = SFTExample(ORIGIN, prompt="Hi", completion="Hello!")
    assert example_token_lengths(raw, embedded_tokenizer, chat_template=False) == (2, 5)


def test_template_that_is_not_prefix_stable_names_the_example(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    odd = copy.deepcopy(embedded_tokenizer)
    # A template that renders the last message differently from earlier ones.
    odd.chat_template = (
        "{% for m in messages %}{% if loop.last %}[{{ m['content'] }}]"
        "{% else %}{{ m['content'] }}\n{% endif %}{% endfor %}"
    )
    with pytest.raises(DataError, match=r"data\.jsonl:7: prompt: the chat template"):
        tokenize_example(
            SFTExample(ORIGIN, prompt="Hi", completion="Hello!"), odd, TokenizeSettings()
        )
    conversation = SFTExample(
        ORIGIN,
        messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    )
    with pytest.raises(DataError, match=r"data\.jsonl:7: messages: .*turn 2"):
        tokenize_example(conversation, odd, TokenizeSettings())
