"""The real ALFWorld engine as a JSON-lines server, for processes that cannot import it.

The engine (textworld with its GPL planner, alfworld) lives in its own interpreter
(``.venv-alfworld``); the pipeline's stages run in the main environment, which must not import it.
``<engine python> -m ipr.envs.alfworld.engine_server`` reads one JSON request per line on stdin and
writes one JSON response per line on stdout, hosting many :class:`TextWorldAlfredEnv` by id:

- ``{"op": "new", "max_turns": N}`` -> ``{"id": ID}``
- ``{"op": "reset", "id": ID, "task": TASK}`` -> ``{"observation": TEXT}``
- ``{"op": "step", "id": ID, "action": TEXT | null}`` -> ``{"observation", "reward", "done", "success"}``
- ``{"op": "admissible", "id": ID}`` / ``{"op": "plan", "id": ID}`` -> ``{"commands": [...]}``
- ``{"op": "snapshot", "id": ID}`` -> ``{"commands": [...]}`` (the commands since reset)
- ``{"op": "restore", "id": ID, "task": TASK, "commands": [...]}`` -> ``{}``
- ``{"op": "close", "ids": [ID, ...]}`` -> ``{}``

A failing request is answered ``{"error": MESSAGE}`` and the server goes on. Closed envs keep their
engine for later episodes (see :mod:`textworld_env`), preferring one that has the game loaded.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from typing import TextIO

from ipr.envs.alfworld.textworld_env import TextWorldAlfredEnv, TextWorldSnapshot, game_path


class EngineServer:
    """The envs of one client by id; an id gets an engine when its first episode starts."""

    def __init__(self):
        self.max_turns: dict[int, int] = {}  # every open id
        self.envs: dict[int, TextWorldAlfredEnv] = {}  # the ids that have started an episode
        self.idle: list[TextWorldAlfredEnv] = []  # engines of closed ids
        self.next_id = 0

    def _start(self, env_id: int, task: dict) -> TextWorldAlfredEnv:
        """The env for a new episode of ``env_id``: an idle one with the task's game loaded if there
        is one (the load is most of a reset's cost), else its own, else any idle one or a new one."""
        if env_id not in self.max_turns:
            raise KeyError(f"no env {env_id}")
        path = game_path(task)
        env = self.envs.pop(env_id, None)
        loaded = next((idle for idle in self.idle if idle.game == path), None)
        if loaded is not None and (env is None or env.game != path):
            self.idle.remove(loaded)
            if env is not None:
                self.idle.append(env)
            env = loaded
        elif env is None:
            env = self.idle.pop() if self.idle else TextWorldAlfredEnv(self.max_turns[env_id])
        env.max_turns = self.max_turns[env_id]
        self.envs[env_id] = env
        return env

    def handle(self, request: dict) -> dict:
        op = request["op"]
        if op == "new":
            self.next_id += 1
            self.max_turns[self.next_id] = int(request["max_turns"])
            return {"id": self.next_id}
        if op == "close":
            for env_id in request["ids"]:
                self.max_turns.pop(env_id, None)
                if env_id in self.envs:
                    self.idle.append(self.envs.pop(env_id))
            return {}
        if op == "reset":
            return {"observation": self._start(request["id"], request["task"]).reset(request["task"])}
        if op == "restore":
            snapshot = TextWorldSnapshot(request["task"], tuple(request["commands"]))
            self._start(request["id"], request["task"]).restore(snapshot)
            return {}
        if op not in ("step", "admissible", "plan", "snapshot"):
            raise ValueError(f"unknown op {op!r}")
        env = self.envs.get(request["id"])
        if env is None:
            raise KeyError(f"env {request['id']} is closed or has not been reset")
        if op == "step":
            return asdict(env.step(request["action"]))
        if op == "admissible":
            return {"commands": env.admissible_commands()}
        if op == "plan":
            return {"commands": env.plan()}
        return {"commands": list(env.snapshot().commands)}


def serve(requests: TextIO, responses: TextIO) -> None:
    """Answer every request line until ``requests`` ends."""
    server = EngineServer()
    for line in requests:
        try:
            response = server.handle(json.loads(line))
        except Exception as error:  # noqa: BLE001 - any failure is the client's to report, not the server's end
            response = {"error": f"{type(error).__name__}: {error}"}
        responses.write(json.dumps(response) + "\n")
        responses.flush()


def main() -> None:
    # The protocol gets its own copy of stdout; whatever the engine prints (Python or its C++ planner)
    # goes to stderr instead, so it can never corrupt a response.
    responses = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin, responses)


if __name__ == "__main__":
    main()
