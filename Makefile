# Set-up and entry points. `make run` and `make test` install everything they need first.
VENV ?= .venv
PY := $(VENV)/bin/python
ACTIVATE := . $(VENV)/bin/activate
export HF_HUB_OFFLINE := 1
export DS_ACCELERATOR := cpu
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test lint
install: $(VENV)/.installed

# torch first and exact: pip then takes the CPU wheel; a looser spec pulls a multi-GB CUDA build.
$(VENV)/.installed: requirements-cpu.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements-cpu.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

run: install  ## the whole pipeline on the embedded default (CPU, tiny model)
	$(ACTIVATE) && snakemake --profile profiles/local

test: install  ## unit tests, DAG checks, lint, and one tiny end-to-end workflow run
	$(ACTIVATE) && python -m pytest

lint: install
	$(ACTIVATE) && snakemake --lint && snakefmt --check .
