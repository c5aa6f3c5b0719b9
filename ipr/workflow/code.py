"""The library code a stage runs: every ipr module a script imports, directly or through others.

Each rule carries the digest of these modules' contents as a parameter (rules/common.smk:
library_code), so an edit of any module a stage uses changes that rule's params and Snakemake's
`params` rerun trigger reruns its jobs and nothing else. A digest rather than the files as inputs:
about 36 more inputs per job nearly doubled the CPU time of the paper sweep's dry run (24 -> 45 s), and
a checkout or `touch` that leaves the contents alone reruns nothing. Imports are read with ``ast``,
not executed (a dry run imports no torch); an import inside a function counts too, so the list may
hold a module a job does not reach, never miss one it does.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "ipr"


def _module_file(root: Path, dotted: str) -> Path | None:
    """ipr/a/b.py or ipr/a/b/__init__.py of the module ipr.a.b; None if neither exists."""
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _packages(dotted: str) -> list[str]:
    """ipr.a.b -> [ipr, ipr.a, ipr.a.b]: importing a module runs every package __init__ above it."""
    parts = dotted.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _stamp(path) -> tuple:
    """A cache key that changes when the file does (an edit within one process, as in the tests)."""
    stat = Path(path).stat()
    return str(path), stat.st_mtime_ns, stat.st_size


def _imported(path: Path, root: Path) -> frozenset[str]:
    return _imported_by_file(_stamp(path), str(root))


@lru_cache(maxsize=None)
def _imported_by_file(stamp: tuple, root: str) -> frozenset[str]:
    """The ipr modules a file imports (absolute, relative and `from package import module`). Cached:
    every stage script reaches most modules, and parsing each once keeps the Snakefile's parse fast."""
    path, root = Path(stamp[0]), Path(root)
    tree = ast.parse(path.read_text(), filename=str(path))
    here = path.relative_to(root).with_suffix("").parts if path.is_relative_to(root) else ()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package of this file
                package = list(here[:-1])[: len(here) - node.level] if here else []
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                found.update(n for n in _packages(name) if _module_file(root, n))
    return frozenset(found)


def _closure(path: str, root: str) -> frozenset[str]:
    root_path = Path(root)
    seen: set[str] = set()
    todo = sorted(_imported(Path(path), root_path))
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(_imported(_module_file(root_path, module), root_path) - seen)
    return frozenset(str(_module_file(root_path, m)) for m in seen)


def library_modules(files, root) -> list[str]:
    """Sorted absolute paths of the ipr modules that `files` (scripts, or modules, which count
    themselves) import, directly or not, with the package __init__ files they run; `root` holds the
    ipr package."""
    root = str(Path(root).resolve())
    out: set[str] = set()
    for path in files:
        path = Path(path).resolve()
        out |= _closure(str(path), root)
        if path.is_relative_to(Path(root) / PACKAGE):
            out.add(str(path))
    return sorted(out)


def library_digest(files, root) -> str:
    """sha256 (16 hex digits) over the path, relative to `root`, and the bytes of every module that
    library_modules(files, root) lists: it changes when, and only when, one of them does."""
    root_path = Path(root).resolve()
    digest = hashlib.sha256()
    for module in library_modules(files, root_path):
        digest.update(Path(module).relative_to(root_path).as_posix().encode() + b"\0")
        digest.update(_file_digest(_stamp(module)) + b"\0")
    return digest.hexdigest()[:16]


@lru_cache(maxsize=None)
def _file_digest(stamp: tuple) -> bytes:
    return hashlib.sha256(Path(stamp[0]).read_bytes()).digest()


def shell_prefix(root) -> str:
    """The start of every rule's shell command: the checkout at `root` first on PYTHONPATH, so that
    a job imports this library whatever the environment has installed (a conda env made from
    workflow-envs/ipr.yaml has no ipr; a venv may hold an install of another checkout), then bash's
    strict mode, which Snakemake's own prefix sets and a custom prefix replaces."""
    import shlex

    return f"export PYTHONPATH={shlex.quote(str(Path(root).resolve()))}${{PYTHONPATH:+:$PYTHONPATH}}; set -euo pipefail; "
