"""How long planning the paper sweep takes: `snakemake -n` and the plan alone.

    python tools/benchmark_dry_run.py                       # config/paper.yaml, 1 run
    python tools/benchmark_dry_run.py --configfile config/paper.yaml config/paper_grid.yaml --repeat 3

Prints, per run, the wall and CPU seconds of `snakemake -n --quiet rules` (in an empty working
directory, so every job is planned; no profile), the number of jobs, and the time Plan.jobs() takes
to list the same jobs without Snakemake. CPU seconds are the fairer figure on a shared machine.
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ipr.workflow.plan import Plan, load_config  # noqa: E402


def job_total(output: str) -> int:
    """The "total" row of Snakemake's job stats."""
    for line in output.split("Job stats:", 1)[1].splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "total":
            return int(parts[1])
    raise ValueError("no job total in the dry-run output")


def snakemake_dry_run(configfiles) -> tuple[float, float, int]:
    """(wall s, CPU s, jobs) of one dry run."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", tmp,
               "--workflow-profile", "none", "--configfile", *map(str, configfiles), "--replace-workflow-config",
               "-n", "--quiet", "rules"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit((proc.stdout + proc.stderr)[-3000:])
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, job_total(proc.stdout + proc.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", nargs="+", type=Path, default=[ROOT / "config/paper.yaml"])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    configfiles = [c if c.is_absolute() else (Path.cwd() / c) for c in args.configfile]

    started, cpu_started = time.perf_counter(), time.process_time()
    plan = Plan.from_config(load_config(configfiles, ROOT / "config/schema.yaml"), ROOT)
    planned = sum(plan.job_counts().values())
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"Plan.jobs() (with the config loaded and checked): {planned} jobs, {wall:.2f} s wall, {cpu:.2f} s CPU")
    for i in range(args.repeat):
        wall, cpu, jobs = snakemake_dry_run(configfiles)
        print(f"snakemake -n: {jobs} jobs, {wall:.1f} s wall, {cpu:.1f} s CPU")
        if jobs != planned:
            print(f"  the plan lists {planned} jobs, Snakemake {jobs}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
