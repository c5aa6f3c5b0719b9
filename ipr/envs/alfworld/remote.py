"""The real ALFWorld engine from the main environment: a client of :mod:`engine_server`.

The stages run in the main environment, which never imports textworld (its planner is GPL-3.0 and
optional); :class:`RemoteAlfworldEnv` plays the real engine in a server process started under the
engine's interpreter (``.venv-alfworld/bin/python``). One server per interpreter and Python process,
started on first use and closed at exit, hosts every env of the process. A snapshot is the task and
the commands since reset, and restoring replays them: the engine's state cannot be copied.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
from pathlib import Path

from ipr.envs.alfworld.textworld_env import TextWorldSnapshot, game_path
from ipr.envs.base import StepResult, state_key_of

DEFAULT_ENGINE_PYTHON = ".venv-alfworld/bin/python"
ENGINE_FILE = "engine.json"  # in an alfworld_real benchmark's assets: {"engine_python", "data_dir"}
_ROOT = Path(__file__).resolve().parents[3]  # the server imports this package from here


class EngineError(RuntimeError):
    """The engine server failed; the message is one line that names its interpreter."""


class _Server:
    """One engine server process: a JSON request line on its stdin, a response line on its stdout."""

    def __init__(self, engine_python: str):
        self.engine_python = engine_python
        self.released: list[int] = []  # env ids to close with the next request
        pythonpath = os.pathsep.join(p for p in (str(_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        try:
            self.process = subprocess.Popen([engine_python, "-m", "ipr.envs.alfworld.engine_server"],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                            env=dict(os.environ, PYTHONPATH=pythonpath))
        except OSError as error:
            raise EngineError(f"cannot start the ALFWorld engine {engine_python}: {error.strerror} "
                              "(make install-alfworld builds .venv-alfworld)") from None

    def call(self, op: str, **fields) -> dict:
        if self.released:
            ids, self.released = self.released, []
            self.call("close", ids=ids)
        try:
            self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except (BrokenPipeError, ValueError):  # ValueError: the pipe was closed at exit
            line = ""
        if not line:
            raise EngineError(f"the ALFWorld engine {self.engine_python} exited with status "
                              f"{self.process.wait()}; its error is in the log above")
        response = json.loads(line)
        if "error" in response:
            raise EngineError(f"the ALFWorld engine {self.engine_python}: {response['error']}")
        return response

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# The engine processes this process started, by interpreter: every env shares one. Their lifetime is
# ``ipr.envs.env_services()`` (``stop_engines`` at its end); at exit for code outside one.
_servers: dict[str, _Server] = {}


@atexit.register
def stop_engines() -> None:
    """Stop the ALFWorld engine processes this process started."""
    for server in _servers.values():
        server.close()
    _servers.clear()


def _server(engine_python: str) -> _Server:
    if engine_python not in _servers:
        _servers[engine_python] = _Server(engine_python)
    return _servers[engine_python]


class RemoteAlfworldEnv:
    """An ALFWorld episode on the real engine (:class:`TextWorldAlfredEnv` in the engine server).

    A task's ``game_file`` is absolute or relative to ``data_dir`` (default ``$ALFWORLD_DATA``).
    """

    def __init__(self, max_turns: int, engine_python: str | Path = DEFAULT_ENGINE_PYTHON,
                 data_dir: str | Path | None = None):
        self.max_turns = int(max_turns)
        self.data_dir = data_dir
        self._task: dict | None = None
        self._server = _server(str(engine_python))
        self._id = self._server.call("new", max_turns=self.max_turns)["id"]

    def close(self) -> None:
        # Released with the next request: a request sent from here could interleave with one in flight.
        if getattr(self, "_id", None) is not None:
            self._server.released.append(self._id)
            self._id = None

    def __del__(self):
        self.close()

    def _engine_task(self, task: dict) -> dict:
        return {**task, "game_file": str(game_path(task, self.data_dir))}

    def reset(self, task: dict) -> str:
        self._task = task
        return self._server.call("reset", id=self._id, task=self._engine_task(task))["observation"]

    def step(self, action: str | None) -> StepResult:
        return StepResult(**self._server.call("step", id=self._id, action=action))

    def admissible_commands(self) -> list[str]:
        return self._server.call("admissible", id=self._id)["commands"]

    def plan(self) -> list[str]:
        """The planner's commands from the current state to the goal (empty if it finds none)."""
        return self._server.call("plan", id=self._id)["commands"]

    def snapshot(self) -> TextWorldSnapshot:
        return TextWorldSnapshot(self._task, tuple(self._server.call("snapshot", id=self._id)["commands"]))

    def restore(self, snapshot: TextWorldSnapshot) -> None:
        self._task = snapshot.task
        self._server.call("restore", id=self._id, task=self._engine_task(snapshot.task),
                          commands=list(snapshot.commands))

    def state_key(self) -> str:
        return state_key_of(self.snapshot())  # the task and the command history


def make_remote_env(assets_dir: str | Path, max_turns: int) -> RemoteAlfworldEnv:
    """The env of an ``alfworld_real`` benchmark: interpreter and data dir from its ``engine.json``."""
    spec = json.loads((Path(assets_dir) / ENGINE_FILE).read_text())
    return RemoteAlfworldEnv(max_turns, spec["engine_python"], spec["data_dir"])
