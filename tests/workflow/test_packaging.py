"""Rule environments import this checkout's ipr, rules rerun on library edits, and the named Slurm
profile is found from the repository root (`make profile`)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import shutil

from ipr.workflow.code import library_digest, library_modules, shell_prefix

ROOT = Path(__file__).resolve().parents[2]


def test_fresh_environment_imports_ipr_through_the_shell_prefix(tmp_path):
    """A Python with no ipr installed (a fresh venv, like a conda env from workflow-envs/ipr.yaml)
    imports the checkout's ipr under the prefix every rule's shell starts with, from any directory."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", tmp_path / "venv"], check=True)
    python = tmp_path / "venv/bin/python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    work = tmp_path / "run"
    work.mkdir()
    check = f"{python} -c 'import ipr, ipr.workflow.layout; print(ipr.__file__)'"
    bare = subprocess.run(["bash", "-c", check], cwd=work, env=env, capture_output=True, text=True)
    assert bare.returncode != 0 and "No module named 'ipr'" in bare.stderr
    run = subprocess.run(["bash", "-c", shell_prefix(ROOT) + check], cwd=work, env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(ROOT / "ipr/__init__.py")


def test_every_rule_carries_its_library_digest():
    """Each rule's params hold library_code(<its scripts>): Snakemake's params trigger reruns it when a
    module it imports changes."""
    for smk in (ROOT / "rules").glob("*.smk"):
        for rule in re.split(r"(?m)^rule ", smk.read_text())[1:]:
            params = re.search(r"\n    params:\n((?:        .*\n)+)", rule)
            assert params and "        library=library_code(" in params.group(1), f"{smk.name}: rule {rule[:30]}"
            scripts = re.findall(r'code=stage_script\("([a-z_]+\.py)"\)', rule)
            for script in scripts:
                assert f'"{script}"' in params.group(1), f"{smk.name}: rule {rule[:30]} misses {script}"


def test_library_digest_changes_with_a_module_it_imports(tmp_path):
    shutil.copytree(ROOT / "ipr", tmp_path / "ipr", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/build_pairs.py", tmp_path / "scripts")
    script = [tmp_path / "scripts/build_pairs.py"]
    before = library_digest(script, tmp_path)
    assert library_digest(script, tmp_path) == before
    unused = tmp_path / "ipr/training/mixed_loss.py"  # not imported by build_pairs.py
    assert str(unused) not in library_modules(script, tmp_path)
    unused.write_text(unused.read_text() + "\n# edited\n")
    assert library_digest(script, tmp_path) == before
    pairs = tmp_path / "ipr/method/pairs.py"
    pairs.write_text(pairs.read_text() + "\n# edited\n")
    assert library_digest(script, tmp_path) != before


def test_library_modules_follow_imports():
    modules = {Path(m).relative_to(ROOT).as_posix() for m in library_modules([ROOT / "scripts/build_pairs.py"], ROOT)}
    # direct (ipr.method.pairs), through ipr.cli (ipr.records), and the package __init__ files on the way
    assert {"ipr/method/pairs.py", "ipr/cli.py", "ipr/records.py", "ipr/__init__.py"} <= modules
    report = {Path(m).name for m in library_modules([ROOT / "scripts/report.py"], ROOT)}
    assert {"results.py", "tables.py", "layout.py"} <= report
    launch = library_modules([ROOT / "scripts/sft.py", ROOT / "ipr/training/launch.py"], ROOT)
    assert str(ROOT / "ipr/training/launch.py") in launch and str(ROOT / "ipr/training/sft.py") in launch


def test_conda_folder_is_not_named_envs():
    assert not (ROOT / "envs").exists() and (ROOT / "workflow-envs/ipr.yaml").is_file()
    for smk in (ROOT / "rules").glob("*.smk"):
        assert all(c == '"../workflow-envs/ipr.yaml"' for c in re.findall(r"conda:\s+(\S+)", smk.read_text()))


def make_profile(config_home):
    env = dict(os.environ, XDG_CONFIG_HOME=str(config_home))
    # -o: the venv counts as installed (this test installs nothing)
    return subprocess.run(["make", "-s", "-o", ".venv/.installed", "profile", f"PY={sys.executable}"], cwd=ROOT,
                          env=env, capture_output=True, text=True)


def test_make_profile_links_the_slurm_profile(tmp_path):
    proc = make_profile(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    link = tmp_path / "snakemake/slurm"
    assert link.is_symlink() and link.resolve() == (ROOT / "profiles/slurm").resolve()
    assert make_profile(tmp_path).returncode == 0  # again: the same link
    link.unlink()
    link.mkdir()  # a profile of the user's own: left alone
    proc = make_profile(tmp_path)
    assert proc.returncode != 0 and "is not a link" in proc.stdout + proc.stderr


def test_named_slurm_profile_dry_run_from_the_repository_root(tmp_path):
    """`snakemake --profile slurm -n` from the repository root after `make profile` (a dry run needs no
    scheduler; tests/slurm/ runs the profile on a live Slurm)."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    command = [sys.executable, "-m", "snakemake", "--profile", "slurm", "-n"]
    if not Path("/etc/xdg/snakemake/slurm").exists():  # the site directory is searched last
        before = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        assert before.returncode != 0 and "no profile.yaml" in before.stderr
    assert make_profile(tmp_path).returncode == 0
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "This was a dry-run" in proc.stdout + proc.stderr
    assert "executor: slurm" not in proc.stderr  # the profile's options were read, not echoed as errors
