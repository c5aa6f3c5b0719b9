"""Reproducible runs: the same config and seed give the same numbers.

See docs/reproducibility.md: a run is a function of its config and seed on one machine kind (same
thread count, same CPU code paths), whatever Python's hash seed and the run's directory; the default
model's tokenizer is pinned, as a change to its corpus silently changes every result.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ipr.envs import generate

# The repository root: the folder above this file that holds the Snakefile (wherever tests/ nests it).
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "Snakefile").is_file())
sys.path.insert(0, str(ROOT / "scripts"))
import build_model  # noqa: E402
from _workflow_runs import REFERENCE_CONFIG, run_workflow  # noqa: E402

# The default tiny model's tokenizer (config/config.yaml: sql_embedded + the small WebShop, vocab
# 1,024, chatml): the one the README's results were built with (commit e393c71's build_model.py gives
# the same). A change to the tokenizer corpus reorders BPE merges and renumbers tokens, so the
# built model starts from other weights for them. So does a change to the default's train data (the
# corpus is their text): on purpose, regenerate the results and update this hash. bc275b47c608b3bd
# built the results of 2026-11-26; WebShop's pages as the original shows them (`Next >` on every
# results page) changed the default's train text, and with it the tokenizer.
DEFAULT_TOKENIZER_SHA = "f0a7984103e25f00"


def test_cpu_code_paths_are_pinned_before_torch_loads():
    code = "import ipr, os, torch; print(os.environ.get('ATEN_CPU_CAPABILITY'), torch.backends.cpu.get_cpu_capability())"
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split()
    if "avx2" in Path("/proc/cpuinfo").read_text():
        assert out == ["avx2", "AVX2"]


@pytest.mark.slow
def test_default_tokenizer_is_the_one_of_the_published_results(tmp_path):
    from ipr.training.templates import TEMPLATE_TOKENS
    from ipr.training.tiny_model import train_tokenizer

    benchmarks = []
    for env, settings in (("sql_embedded", dict(train_per_template=32, test_per_template=6)),
                          ("webshop", dict(catalog="embedded", num_products=120, num_train_tasks=48,
                                           num_test_tasks=24))):
        records = generate(env, tmp_path / env, 0, **settings)["train"]
        benchmarks.append((env, records))
    tokenizer = train_tokenizer(build_model.corpus(benchmarks), 1024, TEMPLATE_TOKENS["chatml"])
    digest = hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode()).hexdigest()[:16]
    assert digest == DEFAULT_TOKENIZER_SHA


def outputs(results: Path) -> dict[str, str]:
    """sha256 of every evaluation record file and summary, pairs file, policy's weights and the pair
    diagnostic."""
    files = [*results.glob("**/eval/*.jsonl"), *results.glob("**/eval/*.summary.json"),
             *results.glob("**/pairs.jsonl"), *results.glob("**/model.safetensors"), results / "tables/pairs.csv"]
    return {str(f.relative_to(results)): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(files)}


@pytest.mark.slow
def test_two_runs_with_the_same_seed_give_identical_evaluations(reference_run, tmp_path):
    """A second run of the reference run's config, in another folder under another hash seed."""
    first = reference_run / "results"
    second = run_workflow(tmp_path / "b", REFERENCE_CONFIG, hash_seed="2") / "results"
    a, b = outputs(first), outputs(second)
    # SFT and IPR iteration 1, each on the validation and the test split.
    summaries = sorted(k for k in a if k.endswith(".summary.json"))
    assert summaries == sorted(f"sql_embedded/tiny-seed0/{run}/eval/{split}.summary.json"
                               for run in ("sft", "ipr/iter1") for split in ("valid", "test"))
    assert len([k for k in a if k.endswith("model.safetensors")]) == 3  # base, SFT, IPR iteration 1
    assert a == b
    summary = json.loads((first / summaries[0]).read_text())
    assert summary["n"] > 0
    # The effect table's rows come from these runs too (one seed: tasks resampled only).
    effect = (first / "tables/effect.csv").read_text().splitlines()
    assert effect[0].startswith("benchmark,comparison,mean,ci_low,ci_high,seeds,tasks,commit")
    assert [line.split(",")[:2] for line in effect[1:]] == [["sql_embedded", "ipr-sft"]]
    assert effect == (second / "tables/effect.csv").read_text().splitlines()
