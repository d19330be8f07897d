"""A new client reading a server of the previous release (schema 2): its data API has no
``build_spec`` field on ``/api/specs/``, and ``fields=`` naming it answers 400 naming the
unknown field. ``from_client`` (with and without ``columns=``) reads such a server all the
same, leaves ``build_spec`` empty and says so in ``data.notes``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import spackmon_analysis as sma
from spackmon_analysis.errors import BadRequestError
from spackmon_analysis.records import DATA_API_FIELDS
from spackmon_analysis.server.queries.routes import ROUTES

TREE = Path(__file__).resolve().parent.parent / "data" / "spack-1.x" / "v0.23.1-splice" / "opt"
TREE = TREE / "spack"


def _older_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process server made one of the previous release by the smallest faithful
    means: the specs route's field list (what ``fields=`` is checked against and what its
    400 lists) and its row shaper both without ``build_spec``, as they were before schema 3.
    Everything else (HTTP, pages, the SQLite database) is the real server's."""
    monkeypatch.setitem(
        DATA_API_FIELDS, "specs", tuple(f for f in DATA_API_FIELDS["specs"] if f != "build_spec")
    )
    route = ROUTES["specs"]

    def row(r: Any) -> dict:
        shaped = route.row(r)
        del shaped["build_spec"]
        return shaped

    monkeypatch.setitem(ROUTES, "specs", dataclasses.replace(route, row=row))


def _older_notes(data: Any) -> list[str]:
    return [text for _, text in data.notes if "has no field 'build_spec'" in text]


def test_from_client_reads_a_server_without_build_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    with sma.LocalMonitor(in_process=True) as mon:
        mon.add_user("ci")
        client = mon.client("ci", progress=False)
        assert client.upload(TREE).problems == []
        # today's server: the spliced spec is known, nothing noted about missing fields
        now = sma.MonitorData.from_client(client)
        now_cols = sma.MonitorData.from_client(client, columns=["status", "outcome"])
        assert now.specs["build_spec"].notna().any()
        assert _older_notes(now) == [] and _older_notes(now_cols) == []

        _older_server(monkeypatch)
        # the older server itself: fields= naming build_spec is a 400 naming it
        with pytest.raises(BadRequestError, match="unknown field 'build_spec'"):
            list(client.pull("specs", fields="id,build_spec", progress=False))
        old = sma.MonitorData.from_client(client)
        old_cols = sma.MonitorData.from_client(client, columns=["status", "outcome"])

    for data, before in ((old, now), (old_cols, now_cols)):
        assert data.specs["build_spec"].isna().all()
        notes = _older_notes(data)
        assert len(notes) == 1 and "/api/specs/" in notes[0] and "spliced" in notes[0]
        # everything else read as from today's server
        assert sorted(data.specs["dag_hash"]) == sorted(before.specs["dag_hash"])
        key = ["dag_hash", "status", "outcome"]
        got = data.builds[key].astype(str).sort_values(key).reset_index(drop=True)
        want = before.builds[key].astype(str).sort_values(key).reset_index(drop=True)
        assert got.equals(want)


def test_only_a_400_listing_the_routes_fields_is_taken_for_an_older_server() -> None:
    from spackmon_analysis.loaders.server import server_fields

    listed = BadRequestError(
        "GET x -> 400",
        status_code=400,
        server_message="unknown field 'build_spec' for /api/specs/ (fields: id, name, full_hash)",
    )
    assert server_fields(listed, "specs") == {"id", "name", "full_hash"}
    assert server_fields(listed, "builds") is None  # another route's answer
    other = BadRequestError("GET x -> 400", status_code=400, server_message="limit must be >= 1")
    assert server_fields(other, "specs") is None
    # the wording of our server for several fields; a message that only looks like it (36 KB
    # of near-misses: 39 s of regex backtracking before) is no field list
    several = BadRequestError(
        "GET x -> 400",
        status_code=400,
        server_message="unknown fields 'a', 'build_spec' for /api/specs/ (fields: id, name)",
    )
    assert server_fields(several, "specs") == {"id", "name"}
    hostile = BadRequestError(
        "GET x -> 400",
        status_code=400,
        server_message="unknown field  for /api/specs/ (fields: " * 1000,
    )
    assert server_fields(hostile, "specs") is None
