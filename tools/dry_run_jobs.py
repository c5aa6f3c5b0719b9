"""The job list of a Snakemake dry run, normalized so that two runs of the same plan compare equal.

    python tools/dry_run_jobs.py --configfile config/paper.yaml [more.yaml] --out jobs.txt.gz
    python tools/dry_run_jobs.py --fixture paper --check     # against tests/fixtures/dry_run/paper.txt.gz
    python tools/dry_run_jobs.py --fixture all --check       # every stored fixture
    python tools/dry_run_jobs.py --fixture all --out         # rewrite them (after an intended change)

Each job becomes one block: rule, input, output, log, benchmark, wildcards, resources, threads and the
shell command (`snakemake -n -p`), with the repository root written as <ROOT>. Job ids, dates and reasons
are dropped and the blocks are sorted, so the list depends only on what would run and how: the same file
before and after a refactoring of the workflow means the refactoring changed no job.
"""

import argparse
import difflib
import gzip
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DIR = ROOT / "tests/fixtures/dry_run"
# Stored job lists: name -> the config files of its dry run (--replace-workflow-config: only these).
FIXTURES = {
    "config": ["config/config.yaml"],
    "webshop_step_rewards": ["config/config.yaml", "config/webshop_step_rewards.yaml"],
    "alfworld": ["config/config.yaml", "config/alfworld.yaml"],
    "intercode_sql": ["config/config.yaml", "config/intercode_sql.yaml"],
    "effect": ["config/config.yaml", "config/effect.yaml"],
    "paper": ["config/paper.yaml"],
    "paper_grid": ["config/paper.yaml", "config/paper_grid.yaml"],
}
KEEP = ("input:", "output:", "log:", "benchmark:", "wildcards:", "resources:", "threads:")


def dry_run(configfiles, directory, extra=()):
    """The stdout+stderr of `snakemake -n -p` for the given config files, run in `directory`."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(directory),
           "--workflow-profile", "none", "--configfile", *map(str, configfiles), "--replace-workflow-config",
           "-n", "-p", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"snakemake -n failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    return proc.stdout + proc.stderr


def job_blocks(output):
    """Sorted normalized job blocks of a `snakemake -n -p` output."""
    blocks, current, in_shell = [], None, False
    for line in output.splitlines():
        if line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            if current:
                blocks.append(current)
            current, in_shell = [line.removeprefix("local")], False
        elif current is None:
            continue
        elif line.startswith("Shell command:") or in_shell:
            in_shell = bool(line.strip())
            if line.strip():
                current.append(line)
        elif line.strip().startswith(KEEP):
            current.append(line.strip())
        elif not line.strip() or line.startswith("["):
            continue
    if current:
        blocks.append(current)
    text = ["\n".join(b).replace(str(ROOT), "<ROOT>") for b in blocks]
    # the trailing "This was a dry-run" summary is not part of any job
    text = [t.split("\nJob stats:")[0] for t in text]
    return sorted(text)


def jobs_by_rule(text):
    """rule -> sorted first outputs ("all" for the target rule) of a stored job list."""
    jobs = {}
    for block in text.split("\n\n"):
        lines = block.strip().splitlines()
        if not lines:
            continue
        outputs = [line.split(": ", 1)[1] for line in lines if line.startswith("output: ")]
        first = outputs[0].split(", ")[0] if outputs else "all"
        jobs.setdefault(lines[0].split()[1].rstrip(":"), []).append(first)
    return {rule: sorted(paths) for rule, paths in jobs.items()}


def benchmarks_by_rule(text):
    """rule -> sorted benchmark files of its jobs in a stored job list (the target rule has none)."""
    files = {}
    for block in text.split("\n\n"):
        lines = block.strip().splitlines()
        for line in lines:
            if line.startswith("benchmark: "):
                files.setdefault(lines[0].split()[1].rstrip(":"), []).append(line.split(": ", 1)[1])
    return {rule: sorted(paths) for rule, paths in files.items()}


def read(path):
    opener = gzip.open if Path(path).suffix == ".gz" else open
    with opener(path, "rt") as f:
        return f.read()


def write(path, text):
    opener = gzip.open if Path(path).suffix == ".gz" else open
    with opener(path, "wt") as f:
        f.write(text)


def job_list(configfiles):
    with tempfile.TemporaryDirectory() as tmp:
        return "\n\n".join(job_blocks(dry_run([ROOT / c for c in configfiles], tmp))) + "\n"


def compare(stored, text, name):
    """0 if equal, else 1 after printing the start of a unified diff."""
    if stored == text:
        print(f"{name}: {text.count(chr(10) + chr(10)) + 1} jobs, identical")
        return 0
    diff = difflib.unified_diff(stored.splitlines(), text.splitlines(), name, "now", lineterm="", n=2)
    for i, line in enumerate(diff):
        if i == 200:
            print("... (diff cut at 200 lines)")
            break
        print(line)
    return 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--configfile", nargs="+", help="config files (relative to the repository)")
    source.add_argument("--fixture", choices=[*FIXTURES, "all"], help="a stored job list's configs")
    parser.add_argument("--out", nargs="?", const="", help="write the job list (default: the fixture file)")
    parser.add_argument("--check", nargs="?", const="", help="compare with a stored list (default: the fixture)")
    args = parser.parse_args(argv)
    if (args.out is None) == (args.check is None):
        parser.error("give exactly one of --out and --check")
    runs = ({args.fixture: FIXTURES[args.fixture]} if args.fixture != "all" else FIXTURES) if args.fixture \
        else {"jobs": args.configfile}
    status = 0
    for name, configfiles in runs.items():
        target = args.out if args.out is not None else args.check
        path = Path(target) if target else FIXTURE_DIR / f"{name}.txt.gz"
        text = job_list(configfiles)
        if args.out is not None:
            write(path, text)
            print(f"{name}: {text.count(chr(10) + chr(10)) + 1} jobs -> {path}")
        else:
            status |= compare(read(path), text, str(path))
    return status


if __name__ == "__main__":
    sys.exit(main())
