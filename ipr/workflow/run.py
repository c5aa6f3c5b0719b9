"""Start or restart the workflow: check the config files first, and after a kill, unlock and resume.

    python -m ipr.workflow.run [--resume] <snakemake arguments>

Snakemake reads ``--configfile`` before any workflow code runs, and on a YAML syntax error it says
only that the file is not valid JSON or YAML. This entry point parses every config file first and
reports a syntax error as one line with file, line and column.

With ``--resume`` (``make resume``), a run that was killed (SIGKILL, a lost node, a closed
terminal) continues: Snakemake's lock of the killed run is removed, but only if no Snakemake
process is still working in the directory, then the same workflow runs with the profile's
``rerun-incomplete``; a killed shard resumes from its ``.partial`` file (``ipr.records``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

DEFAULT_CONFIG = "config/config.yaml"


class ConfigSyntaxError(ValueError):
    pass


def _option_values(args: list[str], *names: str) -> list[str]:
    """Values of a Snakemake option that takes one or more values (``--configfile a.yaml b.yaml``)."""
    values, taking = [], False
    for arg in args:
        if taking and not arg.startswith("-"):
            values.append(arg)
            continue
        taking = False
        name, eq, value = arg.partition("=")
        if name in names:
            if eq:
                values.append(value)
            else:
                taking = True
    return values


def check_config_file(path: str | os.PathLike) -> None:
    """Raise :class:`ConfigSyntaxError` (``file:line:column: problem``) if ``path`` is not valid YAML."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigSyntaxError(f"{path}: {error.strerror}") from None
    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(part for part in (error.context, error.problem) if part)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigSyntaxError(f"{where}: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigSyntaxError(f"{path}: {str(error).splitlines()[0]}") from None


def workdir(args: list[str]) -> Path:
    found = _option_values(args, "--directory", "-d")
    return Path(found[-1] if found else ".").resolve()


def live_snakemake(directory: Path) -> list[int]:
    """Process ids of Snakemake processes (other than this one's ancestors) working in ``directory``."""
    import psutil

    own = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        info = process.info
        cmdline = info.get("cmdline") or []
        if info["pid"] in own or not any(Path(part).name == "snakemake" or part == "snakemake" for part in cmdline):
            continue
        if info.get("cwd") and Path(info["cwd"]).resolve() == directory or str(directory) in cmdline:
            found.append(info["pid"])
    return found


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    resume = "--resume" in argv
    args = [a for a in argv if a != "--resume"]
    directory = workdir(args)
    configs = _option_values(args, "--configfile", "--configfiles")
    if (directory / DEFAULT_CONFIG).is_file():
        configs.insert(0, str(directory / DEFAULT_CONFIG))
    try:
        for path in configs:
            check_config_file(path)
    except ConfigSyntaxError as error:
        print(f"error: bad config: {error}", file=sys.stderr)
        return 1
    snakemake = [sys.executable, "-m", "snakemake"]
    if resume:
        running = live_snakemake(directory)
        if running:
            print(f"error: snakemake is still running in {directory} (pid {', '.join(map(str, running))}); "
                  "wait for it or stop it before resuming", file=sys.stderr)
            return 1
        locks = directory / ".snakemake" / "locks"
        if locks.is_dir() and any(locks.iterdir()):
            print(f"resume: removing the lock of a stopped run in {directory}", file=sys.stderr)
            unlocked = subprocess.run([*snakemake, *args, "--unlock"], stdout=subprocess.DEVNULL)
            if unlocked.returncode != 0:
                return unlocked.returncode
        args.append("--rerun-incomplete")  # the killed run's jobs: their outputs are redone
    return subprocess.run([*snakemake, *args]).returncode


if __name__ == "__main__":
    raise SystemExit(main())
