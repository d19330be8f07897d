"""The server's place among the layers (docs/ARCHITECTURE.md): it may use spec, logs, spackfacts, records
and errors (and its own modules), never the client, the loaders, frames, analysis or views."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import spackmon_analysis

PACKAGE = Path(spackmon_analysis.__file__).resolve().parent
SERVER = PACKAGE / "server"

#: what the server may import from the rest of the package (a module or a package prefix)
ALLOWED = ("spackmon_analysis.server", "spackmon_analysis.spec", "spackmon_analysis.logs")
ALLOWED_EXACT = (
    "spackmon_analysis.records",
    "spackmon_analysis.errors",
    "spackmon_analysis.lazy",  # the package's lazy re-exports (layer 0, imports nothing)
    "spackmon_analysis.spackfacts",  # Spack's facts, beside logs and spec (layer 1)
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, source: str | None = None) -> list[tuple[int, str, str]]:
    """Every import in ``path`` (or in ``source`` as though it were that file), at any depth
    (inside functions too), as (line, module, name): ``from X import a`` gives (line, X, a),
    ``import X`` gives (line, X, "")."""
    text = path.read_text() if source is None else source
    tree = ast.parse(text, filename=str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found += [(node.lineno, module, alias.name) for alias in node.names]
    return found


def _forbidden(module: str, name: str) -> str | None:
    """The package module an import reaches that the server may not use, else None."""
    if module != "spackmon_analysis" and not module.startswith("spackmon_analysis."):
        return None  # the standard library or a third-party package
    if module == "spackmon_analysis":
        if name == "__version__":
            return None
        module = f"spackmon_analysis.{name}"  # ``from .. import client`` reaches the client
    if module in ALLOWED_EXACT or any(
        module == prefix or module.startswith(prefix + ".") for prefix in ALLOWED
    ):
        return None
    return module


def test_the_server_imports_no_layer_above_it() -> None:
    """Every import in ``server/`` (module level or inside a function) stays in the server's
    layer: naming the offending file, line and module."""
    files = sorted(SERVER.rglob("*.py"))
    assert len(files) >= 10  # the whole package was scanned
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line}: {bad}"
        for path in files
        for line, module, name in _imports(path)
        if (bad := _forbidden(module, name)) is not None
    ]
    assert offenders == []


def test_the_check_sees_imports_inside_functions() -> None:
    """The scan resolves relative imports at any depth, so the check above can fail."""
    source = "def f():\n    from ...client import SpackMonitorClient\n    from .. import ingest\n"
    found = _imports(SERVER / "routes" / "data.py", source)
    assert found == [
        (2, "spackmon_analysis.client", "SpackMonitorClient"),
        (3, "spackmon_analysis.server", "ingest"),
    ]
    assert [_forbidden(module, name) for _, module, name in found] == [
        "spackmon_analysis.client",
        None,
    ]
    assert _forbidden("spackmon_analysis", "frames") == "spackmon_analysis.frames"
    assert _forbidden("spackmon_analysis", "__version__") is None


def test_importing_the_whole_server_loads_no_client_frames_or_views() -> None:
    """In a fresh interpreter, importing every server module and building an application
    loads none of the modules above the server."""
    modules = sorted(_module_name(p) for p in SERVER.rglob("*.py"))
    code = (
        "import sys, importlib\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('spackmon_analysis'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "spackmon_analysis.server.app" in out
    above = [m for m in out if _forbidden(m, "") is not None and m != "spackmon_analysis"]
    assert above == []


def test_local_monitor_client_lives_one_layer_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """``spackmon_analysis.LocalMonitor`` is the server's LocalMonitor plus ``client()``; the
    server's own class has none. A client for a user not added here is a ConfigError naming it."""
    import spackmon_analysis as sma
    from spackmon_analysis.errors import ConfigError
    from spackmon_analysis.server import LocalMonitor as ServerOnly

    assert issubclass(sma.LocalMonitor, ServerOnly) and sma.LocalMonitor is not ServerOnly
    assert not hasattr(ServerOnly, "client")
    for name in ("SPACKMON_USER", "SPACKMON_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with sma.LocalMonitor(in_process=True) as mon:
        mon.add_user("alice")
        assert mon.client(progress=False).username == "alice"  # the only user
        mon.add_user("bob")
        assert mon.client(progress=False).username is None  # two users: no default
        with pytest.raises(ConfigError, match="'carol'"):
            mon.client("carol")
        client = mon.client("bob", progress=False)
        assert client.service_info()["id"] == "spackmon"
        assert (client.username, client.token) == ("bob", mon.tokens["bob"])


#: Lines a server module may have: small enough to read in one sitting (issue 11).
MAX_SERVER_MODULE_LINES = 600


def test_every_server_module_can_be_read_in_one_sitting() -> None:
    """Every module of ``server/`` (packages included) has at most 600 lines; none is excepted."""
    sizes = {
        path.relative_to(SERVER).as_posix(): len(path.read_text().splitlines())
        for path in sorted(SERVER.rglob("*.py"))
    }
    too_long = {name: n for name, n in sizes.items() if n > MAX_SERVER_MODULE_LINES}
    assert too_long == {}, f"split these server modules along their seams: {too_long}"
    # the packages' modules were counted too
    assert {"queries/reads.py", "tables/store.py", "ingest/phases.py"} <= set(sizes)


def _writes_to(tree: ast.AST, table: str) -> list[int]:
    """Lines of ``tree`` that build an INSERT, UPDATE or DELETE of ``table`` (SQLAlchemy's
    ``table.insert()`` / ``update(table)`` forms)."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("insert", "update", "delete")
            and isinstance(func.value, ast.Name)
            and func.value.id == table
        ):
            lines.append(node.lineno)
        elif (
            isinstance(func, ast.Name)
            and func.id in ("insert", "update", "delete")
            and any(isinstance(a, ast.Name) and a.id == table for a in node.args)
        ):
            lines.append(node.lineno)
    return lines


def test_the_attempt_rule_lives_in_one_module() -> None:
    """Which attempt of a build a write goes to is decided in ``server/ingest/attempts.py``
    alone (docs/server.md, "Attempts"): no other server module writes ``build_attempts`` rows,
    and the write paths of builds and phases call its functions."""
    writers = {
        path.relative_to(SERVER).as_posix(): lines
        for path in sorted(SERVER.rglob("*.py"))
        if (lines := _writes_to(ast.parse(path.read_text()), "build_attempts"))
    }
    assert list(writers) == ["ingest/attempts.py"], writers
    from spackmon_analysis.server.ingest import attempts, buildwrites, phases

    for module, names in (
        (buildwrites, ("open_first_attempt", "attempt_for_builds_new", "attempt_for_write")),
        (phases, ("attempt_for_write",)),
    ):
        for name in names:
            assert getattr(module, name) is getattr(attempts, name), (module.__name__, name)
