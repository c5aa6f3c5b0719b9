"""What every stage script shares: argument parsing, settings, seeding, task selection, errors.

Scripts stay thin (argparse -> one library call) so a stage runs the same from a Snakemake rule,
a Slurm job, or a Python shell.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

from ipr.records import (InputError, RecordError, ResumableWriter, claim_partial, config_hash,
                         discard_open_partials, read_numbered)
from ipr.workflow.settings import BenchmarkSettings, MethodSettings, RolloutConfig

log = logging.getLogger("ipr")


class Settings(dict):
    """The ``--settings`` JSON: a stage's config section at top level, plus ``seed`` and the
    ``benchmark``, ``model`` and ``method`` entries where the stage needs them (ipr.workflow.plan's
    ``Plan.settings``). The typed accessors read them through ipr.workflow.settings, which holds
    their defaults."""

    STAGES = ("sft", "explore", "score", "train", "evaluate")
    ROLLOUT_STAGES = ("explore", "score", "evaluate")

    @property
    def seed(self) -> int:
        """The job's seed (the model instance's; config/schema.yaml's default 0 when left out)."""
        return int(self["seed"]) if "seed" in self else 0

    @property
    def stage_name(self) -> str:
        """The name of the one stage section (sft, explore, score, train or evaluate) these settings carry."""
        found = [name for name in self.STAGES if name in self]
        if len(found) != 1:
            raise SystemExit(f"error: --settings must carry exactly one stage section of {self.STAGES}, has {found}")
        return found[0]

    @property
    def stage(self) -> dict:
        """The one stage section these settings carry, as written (the trainers' configs read it)."""
        return self[self.stage_name]

    @property
    def rollout(self) -> RolloutConfig:
        """The stage section of a stage that plays episodes (explore, score, evaluate)."""
        name = self.stage_name
        if name not in self.ROLLOUT_STAGES:
            raise SystemExit(f"error: --settings carries the {name} section, not one of {self.ROLLOUT_STAGES}")
        return RolloutConfig.from_settings(self[name], source=f"--settings {name}")

    @property
    def benchmark(self) -> BenchmarkSettings:
        return BenchmarkSettings.from_settings(self.section("benchmark"), source="--settings benchmark")

    @property
    def method(self) -> MethodSettings:
        return MethodSettings.from_settings(self.section("method"), source="--settings method")

    def section(self, name: str) -> dict:
        if name not in self:
            raise SystemExit(f"error: --settings has no '{name}' entry (the rule must pass it)")
        return self[name]


def _settings(text: str) -> Settings:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return Settings(value)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--settings", type=_settings, default=Settings(),
                   help="stage settings as one JSON object (built from the config by rules/common.smk)")
    return p


def add_shard_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--num-shards", type=int, default=1)


def rollout_parser(description: str, model_flag: str, sharded: bool = True) -> argparse.ArgumentParser:
    """Arguments of the stages that play episodes: benchmark, model, tasks, env assets, output."""
    p = parser(description)
    if sharded:
        add_shard_args(p)
    p.add_argument("--benchmark", required=True, help="benchmark name (a key of config 'benchmarks')")
    p.add_argument(f"--{model_flag}", required=True, type=Path, help="model directory that generates")
    p.add_argument("--tasks", required=True, type=Path, help="trajectory records (data/<split>.jsonl)")
    p.add_argument("--assets", required=True, type=Path, help="the benchmark's environment assets")
    p.add_argument("--out", required=True, type=Path)
    return p


class RolloutStage:
    """A parsed rollout stage (explore, score, evaluate): settings, seed, environment, a generation
    backend loaded on first use, and a resumable writer of its output records.

    Inputs are checked before anything is written: the model directory (config, weights,
    tokenizer) here, the task file when :meth:`tasks` or :meth:`all_tasks` loads it. The writer's
    ``.partial`` header holds the hashes of the settings, the model, every input file (``inputs``:
    name -> path, besides --tasks and --assets) and the shard, so a resume after any of them
    changed starts over."""

    def __init__(self, args: argparse.Namespace, model_dir: Path, record_kind: str,
                 inputs: dict[str, Path] | None = None):
        self.args = args
        self.settings: Settings = args.settings
        self.stage = self.settings.rollout
        self.seed = self.settings.seed
        setup(self.seed)
        claim_partial(args.out)
        # The openai backend generates on a server (its URL and model are in the settings, so in the
        # settings hash); no local model directory is read or hashed.
        self.served = self.stage.backend == "openai"
        self.model_dir = Path(model_dir) if self.served else require_model_dir(model_dir)
        if not Path(args.assets).is_dir():
            raise FileNotFoundError(2, "No such file or directory", str(args.assets))
        self.env = env_spec(self.settings, args.assets)
        self.record_kind = record_kind
        self.inputs = {"tasks": args.tasks, "assets": args.assets, **(inputs or {})}
        self._writer: ResumableWriter | None = None
        self._generator = None

    @property
    def writer(self) -> ResumableWriter:
        if self._writer is None:
            self._writer = ResumableWriter(self.args.out, self.record_kind, self.source())
        return self._writer

    def source(self) -> dict:
        """What determines this stage's records, as hashes (the ``.partial`` header)."""
        from ipr.records import model_digest, tree_digest

        shard = {name: getattr(self.args, name) for name in ("shard", "num_shards", "max_tasks")
                 if getattr(self.args, name, None) is not None}
        return {"settings": self.config_hash, "seed": self.seed, "shard": shard,
                "model": "served" if self.served else model_digest(self.model_dir),
                **{name: tree_digest(path) for name, path in self.inputs.items()}}

    @property
    def generator(self):
        """The backend; a shard whose records are all written again never loads the model."""
        if self._generator is None:
            self._generator = backend(self.settings, self.model_dir)
        return self._generator

    @property
    def config_hash(self) -> str:
        return config_hash(self.settings)

    def all_tasks(self) -> list[dict]:
        """Every record of --tasks, checked for the fields and databases this benchmark needs."""
        return load_tasks(self.args.tasks, self.env.name, self.env.assets_dir)

    def tasks(self, max_tasks: int | None = None) -> list[dict]:
        """This shard's tasks (the first ``max_tasks`` by id, then every num_shards-th)."""
        return select_tasks(self.all_tasks(), max_tasks, self.args.shard, self.args.num_shards)

    def sampling(self, greedy: bool):
        return sampling(self.settings, greedy)

    def run_seed(self, salt: str) -> int:
        """The stage's seed; the engine derives each request's seed from it and the episode's key."""
        return zlib.crc32(f"{self.seed}:{salt}".encode()) % (2**31)

    def run_chunks(self, tasks: list[dict], ids_of: Callable[[dict], list[str]],
                   work: Callable[[list[dict], int], list[dict]], chunk_tasks: int | None = None) -> list[str]:
        """Run ``work`` on every chunk of ``chunk_tasks`` tasks (None: the section's chunk_tasks) not
        yet written, then publish the records in task order."""
        from ipr.method.scoring import process_in_chunks

        order = process_in_chunks(self.writer, tasks, ids_of, work, chunk_tasks or self.stage.chunk_tasks)
        self.writer.finish(order)
        return order


def setup(seed: int | None = None) -> None:
    """Logs with timestamps and seeded RNGs (the hub is off: see ipr/__init__.py)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    if seed is not None:
        random.seed(seed)
        try:
            import torch

            torch.manual_seed(seed)  # threads: torch follows OMP_NUM_THREADS, which Snakemake sets per job
        except ImportError:
            pass


def run(main: Callable[[], None]) -> None:
    """Run a stage; turn known input errors into one clear line and exit status 1.

    An input error also removes the stage's ``.partial``: a retry with the same inputs cannot
    succeed, and a retry with corrected inputs must not resume from records of the wrong ones."""
    from ipr.envs import env_services

    try:
        with env_services():  # the servers its environments start stop with the stage
            main()
    except RecordError as error:
        discard_open_partials()
        print(f"error: bad record: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except InputError as error:
        discard_open_partials()
        print(f"error: bad input: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except (FileNotFoundError, NotADirectoryError) as error:
        discard_open_partials()
        print(f"error: {error.strerror}: {error.filename}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception as error:
        from ipr.agent.backends import GenerationServerError

        if not isinstance(error, GenerationServerError):
            raise
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def require_model_dir(path: str | Path) -> Path:
    """``path`` if it holds a model a backend can load: config.json, weights and a tokenizer."""
    from ipr.records import TOKENIZER_FILES, WEIGHT_FILES

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(2, "not a model directory (no config.json)", str(path))
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise InputError(f"{path}: model directory without weights (none of {', '.join(WEIGHT_FILES)})")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise InputError(f"{path}: model directory without a tokenizer (none of {', '.join(TOKENIZER_FILES)})")
    return path


def select_tasks(tasks: list[dict], max_tasks: int | None, shard: int, num_shards: int) -> list[dict]:
    """The first ``max_tasks`` tasks (by id), then every ``num_shards``-th one from ``shard``."""
    if not 0 <= shard < num_shards:
        raise SystemExit(f"error: shard {shard} is outside 0..{num_shards - 1}")
    ordered = sorted(tasks, key=lambda t: t["task_id"])
    if max_tasks is not None:
        ordered = ordered[:max_tasks]
    return ordered[shard::num_shards]


def load_tasks(path: str | Path, env_name: str | None = None, assets_dir: str | Path | None = None) -> list[dict]:
    """Trajectory records; with ``env_name``, each ``task`` is checked for the fields that family
    reads and, for the SQL families with ``assets_dir``, for a database the backend has."""
    from ipr.envs import task_problem

    numbered = list(read_numbered(path, "trajectory"))
    if env_name is not None:
        for line_no, record in numbered:
            problem = task_problem(env_name, record["task"])
            if problem:
                raise RecordError(path, line_no, f"task.{problem[0]}", problem[1])
        if assets_dir is not None and env_name in ("sql_embedded", "intercode_sql"):
            check_databases(path, numbered, env_name, assets_dir)
    return [record for _, record in numbered]


def check_databases(path: str | Path, numbered: list[tuple[int, dict]], env_name: str, assets_dir: str | Path) -> None:
    """Every task's ``db`` exists in the benchmark's backend (a missing one would fail mid-episode)."""
    from ipr.envs import make_env

    backend = make_env(env_name, assets_dir, 1).backend
    for line_no, record in numbered:
        db = record["task"]["db"]
        if not backend.has_database(db):
            raise RecordError(path, line_no, "task.db", f"database {db!r} does not exist in {assets_dir}")


def env_spec(settings: Settings, assets_dir: str | Path):
    from ipr.method.scoring import EnvSpec

    benchmark = settings.benchmark
    return EnvSpec(benchmark.require_env(), str(assets_dir), benchmark.max_turns)


def backend(settings: Settings, model_dir: str | Path):
    from ipr.agent.backends import make_backend

    stage = settings.rollout
    # The openai backend generates on a server; the local model directory is not read.
    model_dir = model_dir if stage.backend == "openai" else require_model_dir(model_dir)
    return make_backend(stage.backend, model_dir, stage.batch_size, stage.openai)


def sampling(settings: Settings, greedy: bool):
    from ipr.agent.backends import STOP_STRINGS, Sampling

    stage, benchmark = settings.rollout, settings.benchmark
    # The benchmark may bound a turn more tightly than the stage (its actions are short).
    max_new_tokens = stage.max_new_tokens
    if benchmark.max_new_tokens is not None:
        max_new_tokens = min(max_new_tokens, benchmark.max_new_tokens)
    stop = tuple(benchmark.stop if benchmark.stop is not None else STOP_STRINGS)
    if greedy:
        return Sampling(0.0, 1.0, max_new_tokens, stop)
    return Sampling(stage.temperature, stage.top_p, max_new_tokens, stop)
