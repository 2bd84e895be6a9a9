"""The house matches the data flow: no import circles, and checks see facts only.

Read from the source: every import of a module counts, also one deferred into a
function (for start-up time: it is still a dependency, and a circle through it is
still a circle); only `if TYPE_CHECKING:` imports, which never run, do not. A new
circle, or a check reaching into the loader, fails here before a reviewer has to
spot it.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# the repository layout: auditor/ is `auditor`, checks/ is `auditor.checks`
ROOTS = {"auditor": REPO / "auditor", "auditor.checks": REPO / "checks"}
# what a check may not import: the loader, the layer reader, the sources, the reports
NOT_FOR_CHECKS = (
    "auditor.layers",
    "auditor.loading",
    "auditor.cache",
    "auditor.sources",
    "auditor.report",
    "auditor.pipeline",
    "auditor.commands",
)


def modules() -> dict[str, Path]:
    out = {}
    for package, root in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports when it is imported."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    pending: list[ast.stmt] = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            pending += node.orelse
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
        else:  # function bodies too: a deferred import is still a dependency
            pending += [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)]
    # A package is always imported before its modules: an edge to one's own package
    # (`from auditor.sources import progress`) is how packages work, not a circle.
    ancestors = {name.rsplit(".", n)[0] for n in range(1, name.count(".") + 1)}
    return {m for m in found if m in known and m != name and m not in ancestors}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read() -> None:
    edges = graph()
    assert "auditor.facts" in edges["auditor.runner"]
    assert "auditor.checks.py003_python_eol" in edges["auditor.checks.py004_version_family"]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_import_circles() -> None:
    assert cycles(graph()) == []


def test_checks_import_facts_not_the_loader_or_reports() -> None:
    edges = graph()
    reaching = {
        name: sorted(m for m in used if m.startswith(NOT_FOR_CHECKS))
        for name, used in edges.items()
        if name.startswith("auditor.checks.")
    }
    assert {name: used for name, used in reaching.items() if used} == {}


def test_the_layer_model_imports_nothing_of_the_project() -> None:
    """Only the ELF facts model, itself pure data, which a layer index holds, and the
    two constants modules it names (entry kinds, its format number)."""
    edges = graph()
    assert edges["auditor.layerindex"] <= {
        "auditor.elffacts",
        "auditor.kinds",
        "auditor.indexformat",
    }
    assert (
        edges["auditor.elffacts"] == edges["auditor.kinds"] == edges["auditor.indexformat"] == set()
    )
