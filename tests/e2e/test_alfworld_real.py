"""ALFWorld's real data in the pipeline: the engine server, the remote env and the importer.

Runs the real engine (``.venv-alfworld``, ``make install-alfworld``) behind its server, on a fake
``$ALFWORLD_DATA`` tree of the project's own games written as ``game.tw-pddl`` files.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ipr.envs import generate, header, make_env
from ipr.envs.alfworld.real_data import planner_thought
from ipr.envs.alfworld.remote import EngineError, RemoteAlfworldEnv
from ipr.envs.alfworld.world import NOTHING_HAPPENS, TASK_TYPES
from ipr.records import load_jsonl
from ipr.training.tiny_model import build_tiny_model

from _training_fixtures import CHATML

ROOT = Path(__file__).resolve().parents[2]
ENGINE_PYTHON = ROOT / ".venv-alfworld/bin/python"
BENCHMARK = {"env": "alfworld_real", "max_turns": 20}
SOURCES = {"train": "train", "test_seen": "valid_seen", "test_unseen": "valid_unseen"}
MODEL = {"vocab_size": 300, "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 1,
         "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 2048}

pytestmark = pytest.mark.skipif(not ENGINE_PYTHON.exists(),
                                reason="no .venv-alfworld with the real engine here (make install-alfworld)")

WRITE_GAMES = """
import json, sys
from pathlib import Path
from ipr.envs.alfworld.generate import generate_benchmark
from ipr.envs.alfworld.gamefile import write_game_file
root, sources = Path(sys.argv[1]), json.loads(sys.argv[2])
records = generate_benchmark(root / "embedded", 0, train_games=6, test_seen_games=3, test_unseen_games=3)
for record in records["train"] + records["test"]:
    game = record["task"]["game"]
    trial = f"{game['task_type']}-{game['object']}-None-{game['target']}-{record['task_id'][-2:]}/trial_T0"
    write_game_file(game, root / "json_2.1.1" / sources[record["split"]] / trial / "game.tw-pddl")
"""


def script(name, *args, settings):
    command = [sys.executable, str(ROOT / "scripts" / f"{name}.py"), *map(str, args)]
    return subprocess.run(command + ["--settings", json.dumps(settings)], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """6 train, 3 valid_seen, 3 valid_unseen games, plus a trial alfworld's loader skips in each of
    train (a movable receptacle) and valid_seen (marked unsolvable)."""
    root = tmp_path_factory.mktemp("alfworld_data")
    proc = subprocess.run([str(ENGINE_PYTHON), "-c", WRITE_GAMES, str(root), json.dumps(SOURCES)], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    splits = root / "json_2.1.1"
    game = sorted(splits.glob("train/*/*/game.tw-pddl"))[0]
    movable = splits / "train/pick_and_place_with_movable_recep-x-y-z-1/trial_T0/game.tw-pddl"
    movable.parent.mkdir(parents=True)
    movable.write_text(game.read_text())
    unsolvable = splits / "valid_seen/pick_and_place_simple-x-None-y-0/trial_T0/game.tw-pddl"
    unsolvable.parent.mkdir(parents=True)
    unsolvable.write_text(json.dumps({**json.loads(game.read_text()), "solvable": False}))
    return root


@pytest.fixture(scope="module")
def benchmark(data_dir, tmp_path_factory):
    """The prepare_data stage on the fake tree, as the workflow runs it (valid_unseen capped at 2)."""
    out = tmp_path_factory.mktemp("data")
    settings = {"seed": 0, "benchmark": {**BENCHMARK, "generate": {
        "data_dir": str(data_dir), "engine_python": str(ENGINE_PYTHON), "test_unseen_games": 2}}}
    proc = script("prepare_data", "--benchmark", "real", "--out-dir", out, settings=settings)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_importer_writes_planner_trajectories_and_test_games(benchmark, data_dir):
    train = load_jsonl(benchmark / "train.jsonl", "trajectory")
    assert len(train) == 6 and {r["task"]["task_type"] for r in train} == set(TASK_TYPES)
    for record in train:
        assert record["success"] and record["reward"] == 1.0 and record["split"] == "train"
        messages = record["messages"]
        assert messages[0]["content"].startswith("You are in the middle of a room.")
        assert [m["role"] for m in messages] == ["user"] + ["assistant", "user"] * (record["steps"] - 1) + ["assistant"]
        for message in messages[1::2]:
            assert re.fullmatch(r"Thought: [^\n]+\nAction: [^\n]+", message["content"])
    test = load_jsonl(benchmark / "test.jsonl", "trajectory")
    assert [r["split"] for r in test] == ["test_seen"] * 3 + ["test_unseen"] * 2
    for record in test:
        assert record["messages"] == [] and record["task"]["game_file"].startswith(
            f"json_2.1.1/{SOURCES[record['split']]}/")
        assert (data_dir / record["task"]["game_file"]).is_file()
    stats = json.loads((benchmark / "assets/import.json").read_text())
    assert {s: v["games"] for s, v in stats.items()} == {"train": 6, "test_seen": 3, "test_unseen": 2}
    engine = json.loads((benchmark / "assets/engine.json").read_text())
    assert engine == {"engine_python": str(ENGINE_PYTHON), "data_dir": str(data_dir)}
    assert header("alfworld_real") == header("alfworld")


def test_planner_games_it_cannot_win_in_time_are_skipped(data_dir, tmp_path):
    records = generate("alfworld_real", tmp_path, 0, data_dir=str(data_dir), engine_python=str(ENGINE_PYTHON),
                       train_games=1, test_seen_games=1, test_unseen_games=1, max_expert_steps=1)
    assert records["train"] == []
    assert len(json.loads((tmp_path / "import.json").read_text())["train"]["skipped"]) == 1


def test_remote_env_plays_restores_and_reports_won(benchmark):
    record = load_jsonl(benchmark / "train.jsonl", "trajectory")[-1]
    actions = [m["content"].split("Action: ")[1] for m in record["messages"][1::2]]
    env = make_env("alfworld_real", benchmark / "assets", max_turns=20)
    assert env.reset(record["task"]) == record["messages"][0]["content"]
    assert env.step("fly away").observation == NOTHING_HAPPENS and env.step(None).observation == NOTHING_HAPPENS
    assert actions[0] in env.admissible_commands() and env.plan()[0] == actions[0]
    results = [env.step(action) for action in actions[:2]]
    snapshot = env.snapshot()
    branch = make_env("alfworld_real", benchmark / "assets", max_turns=20)
    branch.restore(snapshot)
    rest = [(env.step(a), branch.step(a)) for a in actions[2:]]
    assert [mine == theirs for mine, theirs in rest] == [True] * len(rest)
    assert rest[-1][0].success and rest[-1][0].reward == 1.0 and rest[-1][0].done
    observations = [r.observation for r in results + [mine for mine, _ in rest]]
    assert observations[:-1] == [m["content"].removeprefix("Observation: ") for m in record["messages"][2::2]]


def test_engine_failures_are_one_line_errors_naming_the_engine(tmp_path):
    with pytest.raises(EngineError, match="/nowhere/python"):
        RemoteAlfworldEnv(20, "/nowhere/python")
    with pytest.raises(EngineError, match=r"the ALFWorld engine /bin/false exited with status 1"):
        RemoteAlfworldEnv(20, "/bin/false")
    env = RemoteAlfworldEnv(20, ENGINE_PYTHON)
    with pytest.raises(EngineError, match="has not been reset"):
        env.step("look")
    with pytest.raises(EngineError, match="FileNotFoundError") as error:
        env.reset({"game_file": str(tmp_path / "missing.tw-pddl")})
    assert "\n" not in str(error.value)


def test_a_dropped_env_is_closed_in_the_server(benchmark):
    task = load_jsonl(benchmark / "test.jsonl", "trajectory")[0]["task"]
    env = make_env("alfworld_real", benchmark / "assets", max_turns=20)
    env.reset(task)
    server, env_id = env._server, env._id
    del env
    other = make_env("alfworld_real", benchmark / "assets", max_turns=20)  # its request closes the dropped one
    assert other.reset(task).startswith("You are in the middle of a room.")
    with pytest.raises(EngineError, match=f"env {env_id} is closed"):
        server.call("step", id=env_id, action="look")


def test_thoughts_restate_the_planner_commands():
    assert planner_thought("go to fridge 1") == "I need to go to fridge 1."
    assert planner_thought("take apple 1 from countertop 1") == "I take apple 1 from countertop 1."
    assert planner_thought("heat apple 1 with microwave 1") == "I heat apple 1 with microwave 1."
    assert planner_thought("close drawer 2") == "I close drawer 2."


def test_evaluate_stage_plays_the_real_test_games(benchmark, tmp_path):
    train = load_jsonl(benchmark / "train.jsonl")
    corpus = [header("alfworld_real")] + [m["content"] for r in train for m in r["messages"]]
    model_dir = tmp_path / "model"  # context for the header and the real games' observations
    build_tiny_model(model_dir, corpus, MODEL, seed=0, chat_template=CHATML)
    settings = {"seed": 0, "benchmark": {**BENCHMARK, "max_turns": 2},
                "evaluate": {"batch_size": 8, "max_new_tokens": 8}}
    out = tmp_path / "eval.jsonl"
    proc = script("evaluate", "--benchmark", "real", "--policy", model_dir, "--tasks", benchmark / "test.jsonl",
                  "--assets", benchmark / "assets", "--out", out, settings=settings)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = load_jsonl(out, "trajectory")
    assert [r["split"] for r in records] == ["test_seen"] * 3 + ["test_unseen"] * 2
    for record in records:
        assert record["messages"][0]["content"].startswith("You are in the middle of a room.")
        assert record["steps"] == 2 and not record["success"]
