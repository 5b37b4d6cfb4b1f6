"""The package's import graph: no cycle (deferred and TYPE_CHECKING imports included) and the layers
of docs/architecture.md (the step-level core imports nothing of the training loop; evaluation and
callbacks import nothing that imports them back).

The graph is read from the source with ``ast``, so every ``import`` statement counts wherever it
stands: at the top, inside a function, or under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "flowrl"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names (before its imported names)."""
    if node.level == 0:
        return node.module or ""
    is_package = MODULES[importer].name == "__init__.py"
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str) -> list[tuple[str, ast.stmt, bool]]:
    """``(imported module, statement, at top level)`` for every import of a package module by ``name``."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    top_level = {id(statement) for statement in tree.body}
    found: list[tuple[str, ast.stmt, bool]] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = resolve(name, node)
            # "from pkg import sub" imports the submodule pkg.sub where there is one
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module for alias in node.names]
        for target in targets:
            while target and target not in MODULES and target.split(".")[0] == PACKAGE:
                target = target.rpartition(".")[0]  # "import flowrl.x.y" names flowrl.x.y's module, or a parent
            if target in MODULES:
                found.append((target, node, id(node) in top_level))
    return found


GRAPH = {name: sorted({target for target, _, _ in imports_of(name)} - {name}) for name in MODULES}


def find_cycle(graph: dict[str, list[str]]) -> list[str]:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or ``[]``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for successor in graph[node]:
            if state.get(successor) == 1:
                return path[path.index(successor):] + [successor]
            if successor not in state:
                cycle = visit(successor)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return []

    for node in graph:
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def reachable(start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for successor in GRAPH[stack.pop()]:
            if successor not in seen:
                seen.add(successor)
                stack.append(successor)
    return seen


def test_the_graph_sees_the_package() -> None:
    assert {"flowrl", "flowrl.agent", "flowrl.core", "flowrl.learning", "flowrl.callbacks"} <= set(MODULES)
    assert "flowrl.core" in GRAPH["flowrl.learning"] and "flowrl.learning" in GRAPH["flowrl.agent"]


def test_cycle_detection_finds_a_cycle() -> None:
    """The checker itself: a deferred import back into a module is a cycle."""
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": [], "c": ["a", "b"]}) == []
    tree = ast.parse("def f():\n    from .agent import Agent\n")
    node = tree.body[0].body[0]
    assert isinstance(node, ast.ImportFrom) and resolve("flowrl.callbacks", node) == "flowrl.agent"


def test_the_import_graph_is_acyclic() -> None:
    cycle = find_cycle(GRAPH)
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_package_imports_are_at_module_level() -> None:
    """No deferred import of a flowrl module (the way cycles used to be dodged); imports of
    optional third-party packages (matplotlib, tqdm) may still be deferred."""
    deferred = [f"{name}: line {node.lineno} imports {target}" for name in MODULES
                for target, node, top_level in imports_of(name) if not top_level and target != name]
    assert not deferred, deferred


@pytest.mark.parametrize("module, allowed", [
    ("flowrl.errors", set()),
    ("flowrl.logger", set()),
    # the flattening of Dict / Tuple observation spaces is a leaf helper: arrays and errors only
    ("flowrl._spaces", {"flowrl.errors", "flowrl._checks"}),
    ("flowrl.envs", {"flowrl._spaces", "flowrl.errors", "flowrl._checks"}),
    ("flowrl.protocols", {"flowrl.logger"}),
    ("flowrl.noise", {"flowrl.errors"}),
    ("flowrl._checkpoint", {"flowrl.errors"}),
    ("flowrl._sb3", {"flowrl.errors", "flowrl._checks", "flowrl._schema", "flowrl._lib"}),
    ("flowrl.evaluation", {"flowrl.envs", "flowrl.protocols", "flowrl.logger", "flowrl._spaces", "flowrl.errors",
                           "flowrl._checks"}),
    ("flowrl.core", {"flowrl.errors", "flowrl._checks", "flowrl._lib", "flowrl._spaces", "flowrl.datasets", "flowrl.datasets._transitions",
                     "flowrl.datasets._minari", "flowrl.datasets._collect"}),
    ("flowrl.callbacks", {"flowrl.errors", "flowrl.evaluation", "flowrl.envs", "flowrl.logger", "flowrl.protocols",
                          "flowrl._spaces", "flowrl._checks"}),
    # datasets takes policies by duck typing: no agent, core or loop
    ("flowrl.datasets", {"flowrl.errors", "flowrl._checks", "flowrl._spaces", "flowrl.datasets._transitions", "flowrl.datasets._minari",
                         "flowrl.datasets._collect"}),
    # the policy file sits on the step-level core: no training loop, no callbacks
    ("flowrl.policies", {"flowrl.errors", "flowrl._checks", "flowrl._lib", "flowrl._spaces", "flowrl._checkpoint", "flowrl._sb3",
                         "flowrl._schema", "flowrl.core", "flowrl.datasets", "flowrl.datasets._transitions",
                         "flowrl.datasets._minari", "flowrl.datasets._collect"}),
    # the sweep's statistics and a run's offline-to-online metrics are plain numerics
    ("flowrl.experiments._stats", set()),
    ("flowrl.experiments._metrics", set()),
])
def test_layers(module: str, allowed: set[str]) -> None:
    """Each leaf imports (directly or not) only the modules below it: the step-level core nothing
    of the loop, evaluation and callbacks no agent and no loop."""
    assert reachable(module) <= allowed, sorted(reachable(module) - allowed)


def test_the_loop_is_built_on_the_core() -> None:
    assert {"flowrl.core", "flowrl.callbacks", "flowrl.evaluation"} <= reachable("flowrl.learning")
    assert "flowrl.agent" not in reachable("flowrl.learning")


def test_experiments_sit_on_top() -> None:
    """flowrl.experiments (sweeps over agents) is imported by nothing in the package but the package
    itself and its own modules; it reaches the agents, not the other way round."""
    experiments = {name for name in MODULES if name == "flowrl.experiments" or name.startswith("flowrl.experiments.")}
    importers = {name for name in MODULES if set(GRAPH[name]) & experiments} - experiments
    assert importers <= {"flowrl"}, sorted(importers)
    assert {"flowrl.agent", "flowrl.sac", "flowrl.swfp", "flowrl.evaluation"} <= reachable("flowrl.experiments")
