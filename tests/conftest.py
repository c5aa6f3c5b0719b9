"""Fixtures shared by several test files."""

import pytest

from _training_fixtures import CHATML, SETTINGS, corpus
from ipr.training.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A tiny chatml model built offline (never written to by tests: they train into their own dirs)."""
    out = tmp_path_factory.mktemp("tiny") / "model"
    build_tiny_model(out, corpus(), SETTINGS, seed=0, chat_template=CHATML)
    return out


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory):
    """One finished run of tests/configs/repro_tiny.yaml under PYTHONHASHSEED=1: the run that the
    reproducibility test and the kill-and-resume test each compare theirs with (tests only read it)."""
    from _workflow_runs import REFERENCE_CONFIG, run_workflow

    return run_workflow(tmp_path_factory.mktemp("reference") / "run", REFERENCE_CONFIG, hash_seed="1")
