"""The tiny workflow run in a scratch directory: the workflow files copied beside one test config, so
that a run writes nothing into the repository."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
WORKFLOW_FILES = ("Snakefile", "rules", "scripts", "config", "workflow-envs", "profiles", "report", "ipr")
# The run that the reproducibility and kill-and-resume tests compare theirs against (conftest.py).
REFERENCE_CONFIG = "repro_tiny.yaml"


def workflow_copy(run_dir: Path, config: str) -> Path:
    """The workflow files in the new folder ``run_dir`` with ``tests/configs/<config>`` as its config."""
    run_dir.mkdir(parents=True)
    for name in WORKFLOW_FILES:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, run_dir / name)
    shutil.copy(ROOT / "tests/configs" / config, run_dir / "config/config.yaml")
    return run_dir


def run_workflow(run_dir: Path, config: str, hash_seed: str | None = None) -> Path:
    """Copy the workflow into ``run_dir`` and run it to the end on 2 cores (under PYTHONHASHSEED
    ``hash_seed`` when given); returns ``run_dir``."""
    workflow_copy(run_dir, config)
    env = dict(os.environ, **({"PYTHONHASHSEED": hash_seed} if hash_seed is not None else {}))
    proc = subprocess.run([*SNAKEMAKE, "--cores", "2", "--workflow-profile", "none", "--show-failed-logs"],
                          cwd=run_dir, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return run_dir
