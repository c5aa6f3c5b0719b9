"""The embedded ALFWorld benchmark: simulator semantics, each task type's goal, expert, splits."""

import json

import pytest

from ipr.envs import ENVS, generate, header, make_env
from ipr.envs.alfworld.env import AlfworldEnv
from ipr.envs.alfworld.expert import expert_actions
from ipr.envs.alfworld.generate import ROOMS, combination, combinations, split_plan
from ipr.envs.alfworld.world import NOTHING_HAPPENS, TASK_TYPES, describe_list
from ipr.report.results import markdown_table


def kitchen(task_type: str, kind: str = "apple", target: str | None = "sidetable") -> dict:
    """A small fixed game: a closed cabinet, a counter with an apple and a mug, the three appliances."""
    return {
        "task_type": task_type, "object": kind, "target": target, "goal_text": "do the task.",
        "receptacles": [{"name": n, "type": n.split()[0]} for n in
                        ("cabinet 1", "countertop 1", "fridge 1", "microwave 1", "sinkbasin 1", "sidetable 1")],
        "objects": [{"name": "apple 1", "type": "apple", "in": "cabinet 1"},
                    {"name": "apple 2", "type": "apple", "in": "countertop 1"},
                    {"name": "mug 1", "type": "mug", "in": "countertop 1"},
                    {"name": "desklamp 1", "type": "desklamp", "in": "sidetable 1"}],
    }


def play(game: dict, actions: list[str]) -> tuple[AlfworldEnv, list]:
    env = AlfworldEnv(max_turns=20)
    env.reset({"game": game})
    return env, [env.step(a) for a in actions]


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    out = tmp_path_factory.mktemp("alfworld")
    return generate("alfworld", out, seed=3, train_games=60, test_seen_games=30, test_unseen_games=30)


def test_intro_and_observation_texts():
    env = AlfworldEnv(max_turns=20)
    intro = env.reset({"game": kitchen("pick_and_place_simple")})
    assert intro == ("You are in the middle of a room. Looking quickly around you, you see a cabinet 1, "
                     "a countertop 1, a fridge 1, a microwave 1, a sidetable 1, and a sinkbasin 1.\n"
                     "Your task is to: do the task.")
    # the real engine's `look` lists nothing in the middle of the room (tests/e2e/test_alfworld_engine.py)
    assert env.step("look").observation == ("You are in the middle of a room. Looking quickly around you, "
                                            "you see nothing.")
    assert env.step("go to cabinet 1").observation == "The cabinet 1 is closed."
    assert env.step("open cabinet 1").observation == ("You open the cabinet 1. The cabinet 1 is open. "
                                                      "In it, you see a apple 1.")
    assert env.step("go to countertop 1").observation == "On the countertop 1, you see a apple 2, and a mug 1."
    assert env.step("take apple 2 from countertop 1").observation == "You pick up the apple 2 from the countertop 1."
    assert env.step("inventory").observation == "You are carrying: a apple 2."
    assert env.step("examine apple 2").observation == "There's nothing special about apple 2."
    assert env.step("look").observation == "You are facing the countertop 1. Next to it, you see nothing."
    assert describe_list([]) == "nothing" and describe_list(["a 1", "b 2", "c 3"]) == "a a 1, a b 2, and a c 3"


def test_invalid_actions_give_nothing_happens():
    env, results = play(kitchen("pick_and_place_simple"), [
        "take apple 2 from countertop 1",  # not there yet
        "go to cabinet 1", "take apple 1 from cabinet 1",  # closed
        "go to the moon", "put apple 1 in sidetable 1",  # 0.4.x grammar ("in", not "in/on")
    ])
    assert [r.observation for r in results] == [NOTHING_HAPPENS, "The cabinet 1 is closed.", NOTHING_HAPPENS,
                                                NOTHING_HAPPENS, NOTHING_HAPPENS]
    assert env.step(None).observation == NOTHING_HAPPENS
    assert not any(r.done for r in results)


def test_one_object_in_hand_and_put_needs_can_contain():
    env, results = play(kitchen("pick_and_place_simple"), [
        "go to countertop 1", "take apple 2 from countertop 1", "take mug 1 from countertop 1",
        "go to microwave 1", "open microwave 1", "put apple 2 in/on microwave 1"])
    assert results[2].observation == NOTHING_HAPPENS
    assert results[5].observation == "You put the apple 2 in/on the microwave 1."
    assert "put mug 1 in/on stoveburner 1" not in env.admissible_commands()


@pytest.mark.parametrize("task_type,solve,wrong", [
    ("pick_and_place_simple",
     ["go to countertop 1", "take apple 2 from countertop 1", "go to sidetable 1", "put apple 2 in/on sidetable 1"],
     ["go to countertop 1", "take apple 2 from countertop 1", "go to fridge 1", "open fridge 1",
      "put apple 2 in/on fridge 1"]),
    ("pick_clean_then_place_in_recep",
     ["go to countertop 1", "take apple 2 from countertop 1", "go to sinkbasin 1", "clean apple 2 with sinkbasin 1",
      "go to sidetable 1", "put apple 2 in/on sidetable 1"],
     ["go to countertop 1", "take apple 2 from countertop 1", "go to sidetable 1", "put apple 2 in/on sidetable 1"]),
    ("pick_heat_then_place_in_recep",
     ["go to countertop 1", "take apple 2 from countertop 1", "go to microwave 1", "heat apple 2 with microwave 1",
      "go to sidetable 1", "put apple 2 in/on sidetable 1"],
     # heated, then cooled: no longer hot
     ["go to countertop 1", "take apple 2 from countertop 1", "go to microwave 1", "heat apple 2 with microwave 1",
      "go to fridge 1", "cool apple 2 with fridge 1", "go to sidetable 1", "put apple 2 in/on sidetable 1"]),
    ("pick_cool_then_place_in_recep",
     ["go to countertop 1", "take apple 2 from countertop 1", "go to fridge 1", "cool apple 2 with fridge 1",
      "go to sidetable 1", "put apple 2 in/on sidetable 1"],
     # the paper's case study: cool at the fridge without holding the object does nothing
     ["go to fridge 1", "cool apple 2 with fridge 1", "go to countertop 1", "take apple 2 from countertop 1",
      "go to sidetable 1", "put apple 2 in/on sidetable 1"]),
    ("pick_two_obj_and_place",
     ["go to countertop 1", "take apple 2 from countertop 1", "go to sidetable 1", "put apple 2 in/on sidetable 1",
      "go to cabinet 1", "open cabinet 1", "take apple 1 from cabinet 1", "go to sidetable 1",
      "put apple 1 in/on sidetable 1"],
     ["go to countertop 1", "take apple 2 from countertop 1", "go to sidetable 1", "put apple 2 in/on sidetable 1"]),
    ("look_at_obj_in_light",
     ["go to countertop 1", "take apple 2 from countertop 1", "go to sidetable 1", "use desklamp 1"],
     # lamp on but the apple left behind
     ["go to countertop 1", "take apple 2 from countertop 1", "go to sidetable 1", "put apple 2 in/on sidetable 1",
      "use desklamp 1"]),
])
def test_each_task_type_success_condition(task_type, solve, wrong):
    target = None if task_type == "look_at_obj_in_light" else "sidetable"
    _, results = play(kitchen(task_type, target=target), solve)
    assert results[-1].done and results[-1].success and results[-1].reward == 1.0
    assert not any(r.done for r in results[:-1])
    _, results = play(kitchen(task_type, target=target), wrong)
    assert not any(r.success or r.reward for r in results)


def test_case_study_cool_without_holding_does_nothing():
    _, results = play(kitchen("pick_cool_then_place_in_recep"), ["go to fridge 1", "cool apple 2 with fridge 1"])
    assert results[1].observation == NOTHING_HAPPENS


def test_turn_limit_and_snapshot_restore():
    env = AlfworldEnv(max_turns=3)
    env.reset({"game": kitchen("pick_and_place_simple")})
    env.step("go to countertop 1")
    saved = env.snapshot()
    first = [env.step("take apple 2 from countertop 1"), env.step("go to sidetable 1")]
    assert first[-1].done and not first[-1].success
    other = AlfworldEnv(max_turns=3)
    other.reset({"game": kitchen("look_at_obj_in_light", target=None)})
    other.restore(saved)
    assert [other.step("take apple 2 from countertop 1"), other.step("go to sidetable 1")] == first


def test_expert_solves_every_generated_game_within_20_turns(benchmark):
    records = benchmark["train"] + benchmark["test"]
    assert {r["split"] for r in records} == {"train", "test_seen", "test_unseen"}
    assert all(r["success"] and r["reward"] == 1.0 and r["steps"] <= 20 for r in records)
    env = make_env("alfworld", "unused", max_turns=20)
    for record in records[::10]:  # replaying the stored actions gives the stored observations
        assert env.reset(record["task"]) == record["messages"][0]["content"]
        for message, reply in zip(record["messages"][1::2], record["messages"][2::2]):
            observation = env.step(message["content"].split("Action: ", 1)[1]).observation
            assert reply["content"] == f"Observation: {observation}"
    assert all(m["content"].startswith("Thought: ") for r in records for m in r["messages"][1::2])


def test_every_task_type_in_every_split(benchmark):
    for split in ("train", "test_seen", "test_unseen"):
        records = [r for r in benchmark["train"] + benchmark["test"] if r["split"] == split]
        assert {r["task_type"] for r in (r["task"] for r in records)} == set(TASK_TYPES)


def test_unseen_split_holds_out_layouts_and_combinations(benchmark):
    def games(split):
        return [r["task"]["game"] for r in benchmark["train"] + benchmark["test"] if r["split"] == split]

    train = games("train")
    assert {g["layout"] for g in games("test_seen")} <= {g["layout"] for g in train}
    assert not {g["layout"] for g in games("test_unseen")} & {g["layout"] for g in train}
    assert {combination(g) for g in games("test_seen")} <= {combination(g) for g in train}
    assert not {combination(g) for g in games("test_unseen")} & {combination(g) for g in train}
    plan = split_plan(3, 6, 2)
    assert plan["train"] == plan["test_seen"]
    keys = [json.dumps(g, sort_keys=True) for split in ("train", "test_seen", "test_unseen") for g in games(split)]
    assert len(keys) == len(set(keys))


def test_generation_is_deterministic(tmp_path, benchmark):
    again = generate("alfworld", tmp_path, seed=3, train_games=60, test_seen_games=30, test_unseen_games=30)
    assert again == benchmark


def test_every_room_hosts_combinations_and_expert_raises_on_unsolvable():
    assert all(combinations(room) for room in ROOMS)
    game = kitchen("pick_and_place_simple", kind="egg")
    with pytest.raises(ValueError):
        expert_actions(game)


def test_registry_header_is_short_and_real():
    assert "alfworld" in ENVS
    text = header("alfworld")
    assert len(text) < 1600 and "Action: put egg 1 in/on sidetable 1" in text
    assert "Observation: You heat the egg 1 using the microwave 1." in text


def test_report_has_a_column_per_split():
    rows = [{"benchmark": "alfworld", "model": "tiny", "method": "sft", "iteration": 0, "split": split, "n": 4,
             "reward": reward, "success_rate": reward, "step_pairs": 0, "outcome_pairs": 0}
            for split, reward in (("test_seen", 0.5), ("test_unseen", 0.25))]
    table = markdown_table(rows)
    assert "| benchmark | model | run | test_seen | test_unseen |" in table
    assert "| alfworld | tiny | SFT | 0.500 / 0.500 | 0.250 / 0.250 |" in table
    assert "| benchmark | model | run |" not in markdown_table(rows[:1])
