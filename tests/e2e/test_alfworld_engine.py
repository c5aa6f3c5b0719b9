"""The real ALFWorld engine (TextWorld PDDL + alfworld 0.3.4 logic) on the project's own game files.

Runs in ``.venv-alfworld`` (``make install-alfworld``; ``make test`` builds it), in a subprocess, since
the engine's dependencies must not enter the main environment.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from ipr.envs.alfworld.world import TASK_TYPES

ROOT = Path(__file__).resolve().parents[2]
ENGINE_PYTHON = ROOT / ".venv-alfworld/bin/python"

pytestmark = pytest.mark.skipif(not ENGINE_PYTHON.exists(),
                                reason="no .venv-alfworld with the real engine here (make install-alfworld)")


def test_real_engine_wins_and_agrees_with_the_simulator(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([str(ENGINE_PYTHON), "tools/alfworld_parity.py", "--games", "12",
                           "--out-dir", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(reports) == 12 and {r["task_type"] for r in reports} == set(TASK_TYPES)
    assert all(r["won"] for r in reports)
    assert [r["mismatches"] for r in reports] == [[]] * 12
    game_file = json.loads(next(tmp_path.glob("games/*/game.tw-pddl")).read_text())
    assert "put {o} in/on {r}" in game_file["grammar"] and "UNKNOWN GOAL" not in game_file["grammar"]


def test_real_engine_invalid_command_and_case_study(tmp_path):
    """``Nothing happens.`` for an unknown command, and for cool without holding the object."""
    script = """
import sys
from pathlib import Path
from ipr.envs.alfworld.gamefile import write_game_file
from ipr.envs.alfworld.textworld_env import TextWorldAlfredEnv
game = {"task_type": "pick_cool_then_place_in_recep", "object": "apple", "target": "sidetable",
        "goal_text": "cool some apple and put it in sidetable.",
        "receptacles": [{"name": n, "type": n.split()[0]} for n in ("countertop 1", "fridge 1", "sidetable 1")],
        "objects": [{"name": "apple 1", "type": "apple", "in": "countertop 1"}]}
path = write_game_file(game, Path(sys.argv[1]) / "game.tw-pddl")
env = TextWorldAlfredEnv(20)
env.reset({"game_file": str(path)})
print(repr(env.step("look")))
for action in ("fly away", "go to fridge 1", "cool apple 1 with fridge 1", "go to countertop 1",
               "take apple 1 from countertop 1", "go to fridge 1", "cool apple 1 with fridge 1",
               "go to sidetable 1", "put apple 1 in/on sidetable 1"):
    print(repr(env.step(action)))
"""
    proc = subprocess.run([str(ENGINE_PYTHON), "-c", script, str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    # `look` in the middle of the room, as the simulator answers it (tests/unit/test_alfworld.py)
    assert "You are in the middle of a room. Looking quickly around you, you see nothing." in lines.pop(0)
    assert "Nothing happens." in lines[0] and "Nothing happens." in lines[2]
    assert "You cool the apple 1 using the fridge 1." in lines[6]
    assert "success=True" in lines[-1] and not any("success=True" in line for line in lines[:-1])
