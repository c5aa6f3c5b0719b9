"""The library's layers import downward only, and no modules import each other in a circle.

Read from the source with ast (every import, including those inside functions), so the test needs
nothing installed. A new top-level module or package must be given a layer here."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Each top-level unit of ipr/ and its layer: a unit imports only units of lower layers (and itself).
LAYERS = {
    # ground: record schemas, file hashes and the settings-dataclass builder; the ReAct turn format
    "ipr.records": 0, "ipr.react": 0,
    # environments; training engines and their launcher; the workflow's plan, layout and --settings entries
    "ipr.envs": 1, "ipr.training": 1, "ipr.workflow": 1,
    # the rollout engine and generation backends
    "ipr.agent": 2,
    # the method: Monte-Carlo step rewards, pairs, evaluation
    "ipr.method": 3,
    # result tables, figures and the effect statistics; the stage command line
    "ipr.report": 4, "ipr.cli": 4,
    # studies of the method (step-reward model, step accuracy, Figure 4)
    "ipr.studies": 5,
}


def modules() -> dict[str, Path]:
    found = {}
    for path in (ROOT / "ipr").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports (``from ipr.x import name`` counts ipr.x.name if that
    is a module)."""
    graph = {}
    for name, path in mods.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("ipr"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in mods else node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("ipr.")}
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def unit(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_only_cli_react_and_records_sit_at_the_top():
    assert sorted(p.stem for p in (ROOT / "ipr").glob("*.py")) == ["__init__", "cli", "react", "records"]


def test_every_unit_has_a_layer():
    assert {unit(m) for m in modules()} - {"ipr"} <= set(LAYERS), "give the new unit a layer in LAYERS"


def test_layers_import_downward_only():
    upward = [f"{m} -> {t}" for m, targets in imports(modules()).items() if unit(m) != "ipr"
              for t in targets if unit(t) != unit(m) and LAYERS[unit(t)] >= LAYERS[unit(m)]]
    assert not upward, "\n".join(sorted(upward))


def test_no_import_circle():
    graph = imports(modules())
    circles, state = [], {}

    def visit(node, path):  # depth-first search; a back edge closes a circle
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, "\n".join(circles)
