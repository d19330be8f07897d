"""The import contract of docs/ARCHITECTURE.md ("Layers"), checked over every module.

Every import counts, at any depth (inside functions too); only imports under
``if TYPE_CHECKING:`` are left out, because they never run. Three rules:

1. a module imports only modules of its own layer or a lower one (``LAYERS`` below);
2. the server imports only the server, the spec reader, the log parser, spackfacts, records, errors and
   the package version; nothing but ``loaders/database.py`` (and, at the top, ``localmonitor``,
   the demo and the CLI, which run the server) imports the server;
3. no cycles in the whole import graph.

A new module must be added to ``LAYERS``; the test names any module that is missing.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import networkx as nx
import pytest

import spackmon_analysis

PACKAGE = Path(spackmon_analysis.__file__).resolve().parent

#: module (or package prefix ending in ".") -> layer; lower layers never import higher ones
LAYERS: dict[str, int] = {
    # 0: vocabulary and file rules every other module may use
    "__version__": 0,
    "errors": 0,
    "records": 0,
    "palette": 0,
    "safetext": 0,
    "localfiles": 0,
    "lazy": 0,  # the packages' PEP 562 lazy re-exports
    # 1: readers of Spack's documents and logs
    "spec.": 1,
    "spec": 1,
    "logs": 1,
    "spackfacts": 1,  # Spack's facts about builds: beside logs (imports it) and spec (uses it)
    # 3: the sources (loaders) and, beside them, the server
    "loaders.": 3,
    "loaders": 3,
    "server.": 3,  # every module of server/ (app, routes/, ingest/, tables/, queries/ ...)
    "server": 3,
    # 4: the client (it replays the loaders' records) and the analysis rules over frames
    #    (failures never imports MonitorData: it reads any object with the frames)
    "client.": 4,
    "client": 4,
    "failures": 4,
    # 5: MonitorData and its methods (the df.spack accessor, data.build()), which use the rules
    "accessor": 5,
    "buildview": 5,
    "frames": 5,
    "parquet": 5,  # MonitorData.to_parquet / from_parquet (frames imports it, never back)
    # 6: analysis over MonitorData objects
    "history": 6,
    "synth": 6,
    "dashboard": 6,  # database summaries finished by the failures/history rules
    # 7: views
    "plots": 7,
    "report": 7,
    "widgets": 7,
    # 8: what wires everything together for a user
    "localmonitor": 8,
    "client_commands": 8,
    "analysis_commands": 8,
    "demo": 8,
    "cli": 8,
    "__main__": 8,
    "": 8,  # the package itself (lazy re-exports of the public API)
}

#: what the server may import from the rest of the package
SERVER_MAY_USE = (
    "server",
    "spec",
    "logs",
    "spackfacts",
    "records",
    "errors",
    "lazy",
    "__version__",
)
#: who may import the server (besides the server itself)
SERVER_USERS = ("loaders.database", "loaders.summary", "localmonitor", "demo", "cli", "")


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> int | None:
    if module in LAYERS:
        return LAYERS[module]
    best = None
    for key, layer in LAYERS.items():
        if key.endswith(".") and module.startswith(key):
            if best is None or len(key) > len(best[0]):
                best = (key, layer)
    return None if best is None else best[1]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for child in node.body:
                skipped.update(id(n) for n in ast.walk(child))
    return skipped


def _resolve(target: str) -> str | None:
    """The package module (relative name) an absolute import target lands in, else None."""
    if target == "spackmon_analysis":
        return ""
    if not target.startswith("spackmon_analysis."):
        return None
    rest = target[len("spackmon_analysis.") :]
    if rest == "__version__":
        return rest
    while rest and rest not in MODULES:
        rest = rest.rpartition(".")[0]
    return rest


def imports_of(module: str) -> list[tuple[int, str]]:
    """(line, imported package module) for every import in ``module`` that runs."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["spackmon_analysis", *([p for p in package.split(".") if p])]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [f"{origin}.{alias.name}" for alias in node.names]
        for target in targets:
            resolved = _resolve(target)
            if resolved is not None and resolved != module:
                found.append((node.lineno, resolved))
    return found


@functools.cache
def import_graph() -> nx.DiGraph:
    """The package's import graph (module -> imported module, with the line), built on first
    use: at collection it would cost every pytest-xdist worker the parse of every module."""
    graph = nx.DiGraph()
    for module in MODULES:
        graph.add_node(module)
        for line, target in imports_of(module):
            graph.add_edge(module, target, line=line)
    return graph


def _where(module: str, target: str) -> str:
    return f"{MODULES[module].relative_to(PACKAGE.parent)}:{import_graph().edges[module, target]['line']}"


def test_every_module_has_a_layer() -> None:
    missing = [m or "<package>" for m in MODULES if _layer(m) is None]
    assert not missing, f"add these modules to LAYERS (and docs/ARCHITECTURE.md): {missing}"


def test_imports_point_down() -> None:
    wrong = [
        f"{_where(m, t)}: {m or '<package>'} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
        for m, t in import_graph().edges
        if (_layer(m) or 0) < (_layer(t) or 0)
    ]
    assert not wrong, "imports that point up a layer:\n" + "\n".join(wrong)


def _top(module: str) -> str:
    return module.split(".")[0]


def test_the_server_uses_only_what_it_may() -> None:
    wrong = [
        f"{_where(m, t)}: {m} imports {t}"
        for m, t in import_graph().edges
        if _top(m) == "server" and _top(t) not in SERVER_MAY_USE and t != "__version__"
    ]
    assert not wrong, "the server imports outside its allowance:\n" + "\n".join(wrong)


def test_only_the_database_loader_and_the_top_import_the_server() -> None:
    wrong = [
        f"{_where(m, t)}: {m or '<package>'} imports {t}"
        for m, t in import_graph().edges
        if _top(t) == "server" and _top(m) != "server" and m not in SERVER_USERS
    ]
    assert not wrong, "modules that reach into the server:\n" + "\n".join(wrong)
    assert ("loaders.database", "server.tables") in import_graph().edges


def test_no_import_cycles() -> None:
    # the package's lazy re-exports (``__getattr__``) and ``from spackmon_analysis import
    # __version__`` are not edges into the package's modules, so any cycle here is real
    cycles = list(nx.simple_cycles(import_graph()))
    shown = [" -> ".join([*(c or "<package>" for c in cycle), cycle[0]]) for cycle in cycles[:10]]
    assert not cycles, f"{len(cycles)} import cycle(s), e.g.:\n" + "\n".join(shown)


@pytest.mark.parametrize(
    "source",
    ["from ..frames import MonitorData\n", "def f():\n    from ..plots import plot_phase_times\n"],
)
def test_the_checker_sees_imports_at_any_depth(
    source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An import a loader may not make is found at module level and inside a function."""
    fake = tmp_path / "fake.py"
    fake.write_text(source)
    monkeypatch.setitem(MODULES, "loaders.fake", fake)
    found = [target for _, target in imports_of("loaders.fake")]
    assert found and found[0] in ("frames", "plots")
    assert _layer(found[0]) > _layer("loaders.fake")  # type: ignore[operator]


def test_type_checking_imports_do_not_count(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..frames import X\n"
    )
    monkeypatch.setitem(MODULES, "loaders.fake", fake)
    assert imports_of("loaders.fake") == []
