"""The prepared PostgreSQL schemas of ``testlib.postgres_schema(prepared=True)`` (the ``db_url``
fixture's) hold what the server's first start makes of an empty schema, and nothing a previous
test left behind."""

from __future__ import annotations

import pytest
import testlib
from sqlalchemy import create_engine, func, select, text
from testlib import postgres_schema

from spackmon_analysis.server import LocalMonitor
from spackmon_analysis.server.tables import SCHEMA_VERSION, Store, meta, users

pytestmark = pytest.mark.postgres


def _schema_of(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT current_schema()")).scalar_one())
    finally:
        engine.dispose()


def _shape_and_meta(url: str) -> tuple[list[tuple], dict[str, str]]:
    schema = _schema_of(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            shape = [row[:3] for row in testlib._shape(conn, schema)]  # indexdef names the schema
            rows = dict(conn.execute(select(meta.c.key, meta.c.value)).all())
    finally:
        engine.dispose()
    return shape, rows


def test_a_prepared_schema_is_what_a_first_start_creates() -> None:
    with postgres_schema() as url:
        Store.open(url).dispose()  # the server's own creation of an empty schema
        created, created_meta = _shape_and_meta(url)
    with postgres_schema(prepared=True) as url:
        prepared, prepared_meta = _shape_and_meta(url)
    assert prepared == created and len(created) > 50
    assert (
        prepared_meta.keys()
        == created_meta.keys()
        == {"schema_version", "jwt_secret", "created_at"}
    )
    assert prepared_meta["schema_version"] == str(SCHEMA_VERSION)
    assert prepared_meta["jwt_secret"] != created_meta["jwt_secret"]


def test_a_reused_schema_is_empty_with_a_new_secret_and_ids_from_one() -> None:
    with postgres_schema(prepared=True) as url, LocalMonitor(url, in_process=True) as mon:
        first = _schema_of(url)
        mon.add_user("alice")
        mon.add_user("bob")
        secret = mon.store.secret
    with postgres_schema(prepared=True) as url, LocalMonitor(url, in_process=True) as mon:
        assert _schema_of(url) == first  # the same schema, from this process's pool
        assert mon.store.secret != secret  # a bearer of the last test is not valid here
        with mon.store.read.connect() as conn:
            assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 0
        mon.add_user("carol")
        with mon.store.read.connect() as conn:
            assert conn.execute(select(users.c.id)).scalar_one() == 1


@pytest.mark.parametrize(
    "change",
    [
        "CREATE INDEX extra_idx ON users (token_hash)",
        "ALTER TABLE users ADD CONSTRAINT extra_check CHECK (id > 0)",
        "ALTER TABLE users ADD COLUMN extra_column text",
    ],
    ids=["index", "constraint", "column"],
)
def test_a_changed_schema_is_not_handed_out_again(change: str) -> None:
    with postgres_schema(prepared=True) as url:
        changed = _schema_of(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(change))
        engine.dispose()
    with postgres_schema(prepared=True) as url:
        assert _schema_of(url) != changed
    with postgres_schema(prepared=True) as url:  # nor later: it was dropped
        assert _schema_of(url) != changed


def test_a_schema_a_test_changed_or_failed_in_is_not_reused() -> None:
    with postgres_schema(prepared=True) as url:
        changed = _schema_of(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE INDEX extra_idx ON users (token_hash)"))
        engine.dispose()
    with postgres_schema(prepared=True) as url:  # the changed schema is not handed out again
        assert _schema_of(url) != changed
    with pytest.raises(RuntimeError), postgres_schema(prepared=True) as url:
        failed = _schema_of(url)
        raise RuntimeError("the test failed")
    with postgres_schema(prepared=True) as url:
        assert _schema_of(url) not in {changed, failed}
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            gone = conn.execute(
                text("SELECT count(*) FROM pg_namespace WHERE nspname IN (:a, :b)"),
                {"a": changed, "b": failed},
            ).scalar_one()
    finally:
        engine.dispose()
    assert gone == 0


def test_a_schema_a_leftover_transaction_locks_is_set_aside(monkeypatch) -> None:
    """A connection left in a transaction holding a lock on a pooled schema does not hang the
    next test: that schema is set aside (dropped at the end of the session), another made."""
    monkeypatch.setattr(testlib, "PREPARED_LOCK_WAIT", "200ms")
    with postgres_schema(prepared=True) as url:
        locked = _schema_of(url)
    engine = create_engine(url)
    leftover = engine.connect()
    try:
        leftover.execute(select(func.count()).select_from(users))  # holds its lock until rollback
        with postgres_schema(prepared=True) as url:
            assert _schema_of(url) != locked
        assert locked in testlib._SET_ASIDE
    finally:
        leftover.rollback()
        leftover.close()
        engine.dispose()
