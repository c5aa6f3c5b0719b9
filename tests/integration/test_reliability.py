"""Faults and bad inputs a user meets (issue 22): a killed shard rerun under changed settings or
another model starts over with one log line and never mixes runs; every bad input is one line
naming file, line and field, and leaves no ``.partial``; a killed workflow continues with one
documented command (``make resume`` = ``python -m ipr.workflow.run --resume``) to the same outputs."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _training_fixtures import CHATML
from _workflow_runs import REFERENCE_CONFIG, workflow_copy
from ipr.envs import generate
from ipr.records import RecordError, load_jsonl, write_jsonl
from ipr.training.tiny_model import build_tiny_model

ROOT = Path(__file__).resolve().parents[2]
BENCHMARK = {"env": "sql_embedded", "max_turns": 4, "tau_step": 0.1, "tau_outcome": 0.1, "explore_tasks": 3}
MODEL = {"vocab_size": 300, "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 1,
         "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 2048}
WEIGHTS = "model.safetensors, model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Tasks, assets and two tiny models that differ only in their weights, as a retrained policy
    with the same settings does: model1 is model0 with its final norm negated (so it writes other
    text; two freshly initialised tiny models both write only newlines)."""
    from safetensors.torch import load_file, save_file

    root = tmp_path_factory.mktemp("world")
    splits = generate("sql_embedded", root / "assets", 0, train_per_template=1, test_per_template=1)
    write_jsonl(root / "train.jsonl", splits["train"], "trajectory")
    corpus = [m["content"] for r in splits["train"] for m in r["messages"]]
    build_tiny_model(root / "model0", corpus, MODEL, seed=0, chat_template=CHATML)
    shutil.copytree(root / "model0", root / "model1")
    weights = load_file(root / "model0/model.safetensors")
    weights["model.norm.weight"] = -weights["model.norm.weight"]
    save_file(weights, root / "model1/model.safetensors", metadata={"format": "pt"})
    return root


def score_settings(num_samples=2):
    return {"seed": 0, "benchmark": BENCHMARK,
            "score": {"num_samples": num_samples, "temperature": 1.0, "top_p": 1.0, "batch_size": 8,
                      "max_new_tokens": 8, "chunk_tasks": 1}}


EXPLORE_SETTINGS = {"seed": 0, "benchmark": BENCHMARK, "explore": {"batch_size": 8, "max_new_tokens": 8, "chunk_tasks": 1}}


def score_expert(world, out, settings, model="model0", tasks=None, assets=None):
    return [sys.executable, str(ROOT / "scripts/score_expert.py"), "--benchmark", "b",
            "--scorer", str(world / model if isinstance(model, str) else model),
            "--tasks", str(tasks or world / "train.jsonl"), "--assets", str(assets or world / "assets"),
            "--out", str(out), "--settings", json.dumps(settings)]


def explore(world, out, model):
    """An explore shard: its records hold the model's own text, so two models give other records."""
    return [sys.executable, str(ROOT / "scripts/explore.py"), "--benchmark", "b", "--policy", str(world / model),
            "--tasks", str(world / "train.jsonl"), "--assets", str(world / "assets"), "--out", str(out),
            "--settings", json.dumps(EXPLORE_SETTINGS)]


def run(command, cwd=ROOT):
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd)


def kill_mid_run(command, partial: Path) -> None:
    """Start ``command`` and SIGKILL it once its ``.partial`` holds the header and a record."""
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (partial.exists() and partial.read_text().count("\n") >= 2) and proc.poll() is None:
        assert time.monotonic() < deadline, "no record written within 300 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the shard finished before it could be killed"


def restart_line(partial: Path, changed: str) -> str:
    return (f"restarting {partial}: it was written from other inputs (changed: {changed}); "
            "its records are discarded")


def last_line(proc) -> str:
    return proc.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def whole_runs(world, tmp_path_factory):
    """Uninterrupted shards: scoring with num_samples 2 and 3, exploration with each model."""
    root = tmp_path_factory.mktemp("whole")
    out = {}
    for key, command in (("n2", score_expert(world, root / "n2.jsonl", score_settings(2))),
                         ("n3", score_expert(world, root / "n3.jsonl", score_settings(3))),
                         ("model0", explore(world, root / "model0.jsonl", "model0")),
                         ("model1", explore(world, root / "model1.jsonl", "model1"))):
        proc = run(command)
        assert proc.returncode == 0, proc.stderr
        out[key] = (root / f"{key}.jsonl").read_bytes()
    assert out["n2"] != out["n3"] and out["model0"] != out["model1"]
    return out


# ------------------------------------------------------------------ resume never mixes runs


def test_killed_shard_rerun_with_other_settings_starts_over(world, whole_runs, tmp_path):
    out = tmp_path / "shard.jsonl"
    partial = out.with_name(out.name + ".partial")
    kill_mid_run(score_expert(world, out, score_settings(2)), partial)
    old = [json.loads(line) for line in partial.read_text().splitlines()[1:]]
    assert old and not out.exists()

    proc = run(score_expert(world, out, score_settings(3)))  # the user edited num_samples: 2 -> 3
    assert proc.returncode == 0, proc.stderr
    assert sum(restart_line(partial, "settings") in line for line in proc.stderr.splitlines()) == 1
    assert out.read_bytes() == whole_runs["n3"] and not partial.exists()
    assert all(len(r["samples"]) in (0, 3) for r in load_jsonl(out, "score"))


def test_killed_shard_rerun_with_another_model_starts_over(world, whole_runs, tmp_path):
    out = tmp_path / "shard.jsonl"
    partial = out.with_name(out.name + ".partial")
    kill_mid_run(explore(world, out, "model0"), partial)

    proc = run(explore(world, out, "model1"))  # same settings, other weights
    assert proc.returncode == 0, proc.stderr
    assert sum(restart_line(partial, "model") in line for line in proc.stderr.splitlines()) == 1
    assert out.read_bytes() == whole_runs["model1"] and not partial.exists()


def test_killed_shard_rerun_with_same_inputs_resumes(world, whole_runs, tmp_path):
    out = tmp_path / "shard.jsonl"
    partial = out.with_name(out.name + ".partial")
    kill_mid_run(score_expert(world, out, score_settings(2)), partial)
    proc = run(score_expert(world, out, score_settings(2)))
    assert proc.returncode == 0 and "restarting" not in proc.stderr
    assert out.read_bytes() == whole_runs["n2"]


def test_partial_without_a_header_starts_over(world, whole_runs, tmp_path):
    """A .partial of an earlier version (records only) cannot say where it came from."""
    out = tmp_path / "shard.jsonl"
    partial = out.with_name(out.name + ".partial")
    first = whole_runs["n3"].decode().splitlines(keepends=True)[0]
    partial.write_text(first)
    proc = run(score_expert(world, out, score_settings(2)))
    assert proc.returncode == 0, proc.stderr
    line = (f"restarting {partial}: it has no source header (written by another version, or torn); "
            "its records are discarded")
    assert any(line in entry for entry in proc.stderr.splitlines())
    assert out.read_bytes() == whole_runs["n2"]


def test_changed_task_file_starts_over(world, whole_runs, tmp_path):
    out = tmp_path / "shard.jsonl"
    partial = out.with_name(out.name + ".partial")
    kill_mid_run(score_expert(world, out, score_settings(2)), partial)
    tasks = tmp_path / "train.jsonl"
    tasks.write_text((world / "train.jsonl").read_text() + "\n")  # same records, other bytes
    proc = run(score_expert(world, out, score_settings(2), tasks=tasks))
    assert proc.returncode == 0
    assert any(restart_line(partial, "tasks") in line for line in proc.stderr.splitlines())
    assert out.read_bytes() == whole_runs["n2"]


# ------------------------------------------------------------------ one line per bad input


def bad_input(world, tmp_path, *, tasks=None, model="model0", assets=None):
    """Run a scoring shard on a bad input, with a .partial of an earlier killed run in place."""
    out = tmp_path / "out.jsonl"
    partial = out.with_name(out.name + ".partial")
    partial.write_text('{"partial_source": {}}\n')
    proc = run(score_expert(world, out, score_settings(2), model, tasks, assets))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not partial.exists()  # a retry cannot fix an input error
    return last_line(proc)


def edited_tasks(world, tmp_path, line: int, edit) -> Path:
    records = [json.loads(line) for line in (world / "train.jsonl").read_text().splitlines()]
    edit(records[line - 1])
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_task_without_gold(world, tmp_path):
    tasks = edited_tasks(world, tmp_path, 3, lambda r: r["task"].pop("gold"))
    assert bad_input(world, tmp_path, tasks=tasks) == (
        f"error: bad record: {tasks}:3: field 'task.gold': missing (the sql_embedded environment needs it)")


def test_task_naming_a_database_that_does_not_exist(world, tmp_path):
    tasks = edited_tasks(world, tmp_path, 2, lambda r: r["task"].update(db="no_such_db"))
    assert bad_input(world, tmp_path, tasks=tasks) == (
        f"error: bad record: {tasks}:2: field 'task.db': database 'no_such_db' does not exist in {world / 'assets'}")


def test_trajectory_record_without_messages(world, tmp_path):
    tasks = edited_tasks(world, tmp_path, 1, lambda r: r.pop("messages"))
    assert bad_input(world, tmp_path, tasks=tasks) == (
        f"error: bad record: {tasks}:1: field 'messages': missing (required in trajectory records)")


def test_torn_json_line_says_at_once(world, tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text((world / "train.jsonl").read_text().splitlines()[0] + '\n{"id": "x')  # torn: no newline
    assert bad_input(world, tmp_path, tasks=tasks) == (
        f"error: bad record: {tasks}:2: field '<json>': malformed JSON: Unterminated string starting at column 8")


def test_model_directory_with_config_but_no_weights(world, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(world / "model0", model)
    (model / "model.safetensors").unlink()
    assert bad_input(world, tmp_path, model=model) == (
        f"error: bad input: {model}: model directory without weights (none of {WEIGHTS})")


def test_model_directory_without_tokenizer(world, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(world / "model0", model)
    (model / "tokenizer.json").unlink()
    assert bad_input(world, tmp_path, model=model) == (
        f"error: bad input: {model}: model directory without a tokenizer "
        "(none of tokenizer.json, tokenizer.model, vocab.json)")


def test_missing_assets_folder(world, tmp_path):
    assets = tmp_path / "no-assets"
    assert bad_input(world, tmp_path, assets=assets) == f"error: No such file or directory: {assets}"


def test_read_jsonl_names_file_line_and_field(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"b": "open')
    with pytest.raises(RecordError) as error:
        load_jsonl(path)
    assert str(error.value) == f"{path}:2: field '<json>': malformed JSON: Unterminated string starting at column 7"


# ------------------------------------------------------------------ configs and restarts


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    (tmp_path / "my.yaml").write_text("seed: 0\nbenchmarks:\n  sql: {env: sql_embedded\n  other: 1\n")
    proc = run([sys.executable, "-m", "ipr.workflow.run", "--configfile", "my.yaml", "-n"], cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "error: bad config: my.yaml:4:8: while parsing a flow mapping expected ',' or '}', but got ':'")


def test_resume_refuses_while_snakemake_still_runs(tmp_path):
    (tmp_path / ".snakemake/locks").mkdir(parents=True)
    (tmp_path / ".snakemake/locks/0.input.lock").write_text("x\n")
    # A process whose command line names snakemake, working in the directory.
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "snakemake"], cwd=tmp_path)
    try:
        proc = run([sys.executable, "-m", "ipr.workflow.run", "--resume", "-n"], cwd=tmp_path)
    finally:
        alive.kill()
        alive.wait()
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"error: snakemake is still running in {tmp_path.resolve()} (pid {alive.pid}); "
                                   "wait for it or stop it before resuming")
    assert (tmp_path / ".snakemake/locks/0.input.lock").exists()


def test_report_cost_table_reads_the_planned_jobs_only(tmp_path):
    """scripts/report.py as the report rule runs it: the plan rebuilt from --config-json names the
    benchmark files; files that an earlier run with other settings left in benchmarks/ are not read."""
    from ipr.workflow.plan import Plan, dump, load_config

    plan = Plan.from_config(load_config([ROOT / "tests/configs/tiny.yaml"], ROOT / "config/schema.yaml"), ROOT)
    planned = ["ipr/iter1/explore/0.tsv", "ipr/iter2/train.tsv"]
    stale = ["ipr/iter1/explore/5.tsv", "eto/iter1/train.tsv"]  # a shard and a method not in tiny.yaml
    for path in planned + stale:
        (tmp_path / "benchmarks/sql_embedded/tiny" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "benchmarks/sql_embedded/tiny" / path).write_text("s\th:m:s\n1800.0\t0:30:00\n")
    proc = run([sys.executable, str(ROOT / "scripts/report.py"), "--layout", dump(plan.report_layout()),
                "--config-json", plan.config_json(), "--out-dir", "results/tables", "--figures", "results/figures"],
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cost = list(csv.reader(open(tmp_path / "results/tables/cost.csv")))
    assert cost[1:] == [["ipr", "explore", "1", "0.500", "0", "0.000"], ["ipr", "train", "1", "0.500", "0", "0.000"]]
    assert f"{len(plan.cost_jobs()) - 2} of {len(plan.cost_jobs())} planned jobs have no benchmark file" in \
        (tmp_path / "results/tables/cost.md").read_text()


# ------------------------------------------------------------------ the whole workflow, killed


SNAKEMAKE_ARGS = ["--cores", "2", "--workflow-profile", "none"]


def half_written(results: Path, stage: str) -> list[Path]:
    """The ``.partial`` files of ``stage`` that hold a header and a record (the scan races with
    jobs that create and remove files: a file gone mid-scan counts as not there)."""
    found = []
    for path in results.rglob("*.partial") if results.is_dir() else []:
        try:
            if stage in path.parts and path.read_text().count("\n") >= 2:
                found.append(path)
        except OSError:
            continue
    return found


def outputs(run_dir: Path) -> dict[str, bytes]:
    """Every file under results/, by relative path."""
    results = run_dir / "results"
    return {p.relative_to(results).as_posix(): p.read_bytes() for p in sorted(results.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_workflow_killed_mid_run_resumes_to_the_same_outputs(reference_run, tmp_path):
    """The reference run's config killed mid-run and resumed gives the reference run's outputs."""
    whole = reference_run
    killed = workflow_copy(tmp_path / "killed", REFERENCE_CONFIG)
    log = open(tmp_path / "killed.log", "w")
    snakemake = subprocess.Popen([sys.executable, "-m", "snakemake", *SNAKEMAKE_ARGS], cwd=killed,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    # Kill the whole process group while an explore shard is half written (after the SFT policy).
    deadline = time.monotonic() + 600
    partials = []
    while not partials and snakemake.poll() is None:
        assert time.monotonic() < deadline, "no explore shard started within 600 s"
        partials = half_written(killed / "results", "explore")
        time.sleep(0.05)
    os.killpg(snakemake.pid, signal.SIGKILL)
    assert snakemake.wait() == -signal.SIGKILL, "the workflow finished before it could be killed"
    assert (killed / ".snakemake/locks").is_dir() and any((killed / ".snakemake/locks").iterdir())

    # The same command again refuses to go on; the documented one continues. Which refusal comes
    # depends on the moment of the kill: Snakemake checks for files a job left incomplete before it
    # takes the lock, so a kill while any job's output was marked incomplete stops there first.
    again = run([sys.executable, "-m", "snakemake", *SNAKEMAKE_ARGS], cwd=killed)  # (a dry run only warns)
    refusal = again.stdout + again.stderr
    assert again.returncode != 0 and ("LockException" in refusal or "Incomplete files" in refusal), refusal[-3000:]
    resumed = run([sys.executable, "-m", "ipr.workflow.run", "--resume", *SNAKEMAKE_ARGS], cwd=killed)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resume: removing the lock of a stopped run in {killed}" in resumed.stderr

    expected, got = outputs(whole), outputs(killed)
    assert sorted(got) == sorted(expected)
    differing = [name for name in expected if comparable(name, got[name]) != comparable(name, expected[name])]
    assert differing == []


def comparable(name: str, data: bytes) -> bytes:
    """An output as compared: a training run's metrics without its wall time, the cost table not at
    all (it is made of wall times); every other file byte for byte."""
    if name.endswith("metrics.json"):
        def strip(value):
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k != "wall_time_s"}
            return [strip(v) for v in value] if isinstance(value, list) else value
        return json.dumps(strip(json.loads(data)), sort_keys=True).encode()
    if name.startswith("tables/cost."):
        return b""  # wall hours of the jobs: present in both runs, compared no further
    return data
