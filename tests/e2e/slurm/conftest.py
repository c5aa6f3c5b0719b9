"""Every test in this folder runs against a live single-node Slurm (slurm_harness.py)."""

from pathlib import Path

import pytest

import slurm_harness


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.slurm)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node Slurm (partitions cpu and gpu, 8 fake A100s); stopped afterwards."""
    yield from slurm_harness.slurm_cluster()
