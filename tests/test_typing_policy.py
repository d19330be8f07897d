"""The typing policy of docs/ARCHITECTURE.md ("Typing"), checked over every module.

mypy runs over ``spackmon_analysis/`` in CI with no module excepted. A ``# type: ignore`` in our
own code is allowed only where a third-party stub is wrong, and then narrowly: it names its
error code(s) (``# type: ignore[assignment]``, never a bare ignore) and says, in a comment on the
same line, which stub is wrong and why. This test finds every such comment (real comments, read
with :mod:`tokenize`, so text in strings and docstrings does not count) and names each one that
breaks the rule.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

import spackmon_analysis
from spackmon_analysis import errors, logs
from spackmon_analysis.errors import ConfigError
from spackmon_analysis.server.tables import Store

PACKAGE = Path(spackmon_analysis.__file__).resolve().parent

_IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<codes>\[[^\]]*\])?(?P<rest>.*)")
_CODES = re.compile(r"\[[a-z][a-z-]*(?:,\s*[a-z][a-z-]*)*\]")
#: the reason: a comment after the ignore, of at least three words
_REASON = re.compile(r"^\s*#\s*(?P<text>.+)$")


def violations(source: str, where: str) -> list[str]:
    """Each ``type: ignore`` comment of ``source`` without error codes or a same-line reason."""
    found = []
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        match = _IGNORE.search(tok.string)
        if match is None:
            continue
        line = f"{where}:{tok.start[0]}: {tok.line.strip()}"
        codes = match.group("codes")
        if codes is None or not _CODES.fullmatch(codes):
            found.append(f"{line}\n    no error code: write # type: ignore[code]")
            continue
        reason = _REASON.match(match.group("rest"))
        if reason is None or len(reason.group("text").split()) < 3:
            found.append(
                f"{line}\n    no reason: add '  # <which stub is wrong and why>' on this line"
            )
    return found


def ignore_codes(source: str) -> list[str]:
    """The bracketed codes of every ``type: ignore`` comment of ``source``."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        match = _IGNORE.search(tok.string) if tok.type == tokenize.COMMENT else None
        if match is not None:
            out.append(match.group("codes") or "")
    return out


#: The reviewed ignores: (module path, codes). Each is a wrong third-party stub, named on its line.
ALLOWED = {("client/transport.py", "[assignment]")}


def test_every_type_ignore_names_its_code_and_reason() -> None:
    problems: list[str] = []
    found: set[tuple[str, str]] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(PACKAGE).as_posix()
        problems += violations(source, f"spackmon_analysis/{where}")
        found |= {(where, codes) for codes in ignore_codes(source)}
    assert not problems, "type: ignore comments that break the typing policy:\n" + "\n".join(
        problems
    )
    assert found == ALLOWED, (
        "the type: ignore comments differ from the reviewed list: add an ignore only for a wrong "
        f"third-party stub, and list it in ALLOWED (found {sorted(found)})"
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("x = f()  # type: ignore\n", "no error code"),
        ("x = f()  # type: ignore[]\n", "no error code"),
        ("x = f()  # type:ignore[arg-type]\n", "no reason"),
        ("x = f()  # type: ignore[arg-type]  # why\n", "no reason"),
        ("x = f()  # type: ignore[arg-type, assignment]  # the foo stub is wrong\n", None),
        ('x = "# type: ignore"\n', None),  # text in a string is no comment
    ],
)
def test_policy_check_flags_what_it_should(line: str, expected: str | None) -> None:
    found = violations(line, "m.py")
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0] and "m.py:1:" in found[0]


def test_replay_error_attributes_are_declared_on_every_monitor_error() -> None:
    # declared (typed) on the class, so code reading them needs no ignore; None unless a replay
    # or upload was interrupted (client.summary._interrupted sets them)
    error = errors.TransportError("connection refused", method="POST", url="http://x/ms1/")
    assert (error.summary, error.uploaded, error.not_uploaded) == (None, None, None)


def test_a_server_cap_row_becomes_an_event_without_a_line() -> None:
    # the server's "N more errors were not stored" row points at no line: line_no is None
    row = {"kind": "error", "text": "[spackmon] 3 more error line(s) ...", "line_no": None}
    event = logs.LogEvent.from_dict(row)
    assert event.line_no is None
    assert logs.LogEvent.from_dict(event.to_dict()) == event


def test_the_sqlite_store_begins_its_own_transactions(tmp_path: Path) -> None:
    # server/tables/store.py: the write engine's BEGIN IMMEDIATE takes the write lock at once (its
    # dialect subclass, not a patched method); the read engine's plain BEGIN takes none
    import sqlite3

    from sqlalchemy import text

    store = Store.open(str(tmp_path / "s.db"))
    other = sqlite3.connect(tmp_path / "s.db", timeout=0, isolation_level=None)
    try:
        with store.read.begin() as conn:
            conn.execute(text("SELECT 1"))
            other.execute("BEGIN IMMEDIATE")  # no lock held by the reader
            other.execute("ROLLBACK")
        with store.write.begin() as conn:
            conn.execute(text("SELECT 1"))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()
        store.write.dispose()
        store.read.dispose()


def test_a_sqlite_url_for_another_driver_is_refused_by_name(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    with pytest.raises(ConfigError, match="sqlite\\+aiosqlite.*Python's sqlite3"):
        Store.open(url)
