"""Statements of the server's hot paths run on the plain DBAPI cursor.

:func:`run_prepared` / :func:`run_prepared_many` compile a Core statement once per dialect and run
it inside the connection's transaction (the ingest modules' writes); :func:`cursor_statement`
gives a select's SQL and bound values for a cursor that fetches raw rows in chunks
(``MonitorData.from_database``).
"""

from __future__ import annotations

from typing import Any

#: A statement compiled for one dialect: its SQL, and per bound name (in the DBAPI's order for
#: a positional paramstyle) the name, its bind processor or None, and its default value.
_Prepared = tuple[str, bool, tuple[tuple[str, Any, Any], ...]]
_PREPARED: dict[tuple[str, int], _Prepared] = {}
_MISSING = object()


def _prepared(dialect: Any, stmt: Any) -> _Prepared:
    """``stmt`` compiled once per dialect (see :data:`_Prepared`)."""
    key = (dialect.name, id(stmt))
    prepared = _PREPARED.get(key)
    if prepared is None:
        compiled = stmt.compile(dialect=dialect)
        procs = compiled._bind_processors
        names = compiled.positiontup if dialect.positional else compiled.params
        binds = tuple(
            (
                name,
                procs.get(name),
                _MISSING if compiled.params.get(name) is None else compiled.params[name],
            )
            for name in names or ()
        )
        prepared = (compiled.string, bool(dialect.positional), binds)
        _PREPARED[key] = prepared
    return prepared


def _bound(prepared: _Prepared, params: dict[str, Any]) -> Any:
    """One execution's parameters as the DBAPI takes them: each bound name's value from
    ``params`` (else the statement's default; a name with neither is a ``KeyError``) through
    its bind processor, as a tuple (positional paramstyle) or a dict."""
    values = []
    for name, proc, default in prepared[2]:
        value = params.get(name, default)
        if value is _MISSING:
            raise KeyError(name)
        values.append(value if proc is None else proc(value))
    if prepared[1]:
        return tuple(values)
    return {bind[0]: value for bind, value in zip(prepared[2], values, strict=True)}


def run_prepared(conn: Any, stmt: Any, params: dict[str, Any]) -> list[tuple]:
    """Execute a prebuilt Core statement on ``conn``'s DBAPI connection; return its rows.

    The statement is compiled once per dialect (bind processors kept, so values are stored exactly
    as SQLAlchemy would store them) and then run with a raw DBAPI cursor inside the connection's
    current transaction: this skips SQLAlchemy's per-execution bookkeeping on the server's hottest
    path. DBAPI errors are re-raised as the matching ``sqlalchemy.exc`` classes. Rows come as
    the driver gives them (no result processing: SQLite gives a time as its stored text).
    """
    from sqlalchemy.exc import DBAPIError

    dialect = conn.dialect
    prepared = _prepared(dialect, stmt)
    sql = prepared[0]
    args = _bound(prepared, params)
    raw = conn.connection.dbapi_connection
    cursor = raw.cursor()
    try:
        cursor.execute(sql, args)
        return cursor.fetchall() if cursor.description else []
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, args, exc, dialect.loaded_dbapi.Error) from exc
    finally:
        cursor.close()


def run_prepared_many(conn: Any, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """Execute a prebuilt Core statement once per parameter dict of ``rows`` (the DBAPI's
    ``executemany``), as :func:`run_prepared` runs one: a multi-row INSERT of the hot path."""
    from sqlalchemy.exc import DBAPIError

    if not rows:
        return
    dialect = conn.dialect
    prepared = _prepared(dialect, stmt)
    sql = prepared[0]
    args = [_bound(prepared, params) for params in rows]
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.executemany(sql, args)
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, args, exc, dialect.loaded_dbapi.Error) from exc
    finally:
        cursor.close()


def cursor_statement(stmt: Any, dialect: Any) -> tuple[str, Any]:
    """``(sql, parameters)`` of a Core select for a plain DBAPI cursor of ``dialect``: the
    statement compiled with its bound values (lists in ``IN`` expanded) processed as
    SQLAlchemy would bind them (a ``datetime`` becomes SQLite's stored text form), so a reader
    can fetch raw rows in chunks (``fetchmany``) without SQLAlchemy's per-row processing."""
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    procs = compiled._bind_processors
    if procs:
        params = {k: (procs[k](v) if k in procs else v) for k, v in params.items()}
    if dialect.positional:
        return compiled.string, tuple(params[name] for name in compiled.positiontup or ())
    return compiled.string, params
