"""Frames at scale: server rows are kept column-wise as codes while they stream in (no Python
string per row for a repeated value), and the frames hold repeated strings as categoricals,
never as object columns (``docs/analysis.md``, the frame contract)."""

from __future__ import annotations

import datetime as dt
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest
from testlib import example_runs_database

from spackmon_analysis import LocalMonitor
from spackmon_analysis.frames import MonitorData
from spackmon_analysis.loaders.server import ServerColumns

EXAMPLES = Path(__file__).resolve().parents[2] / "spackmon_analysis" / "data" / "examples"

#: The contract's object columns: a build's tuple of tags, an event's lists of context lines
#: and tuple of classes (shared, not repeated strings).
OBJECT_COLUMNS = {
    "builds": {"tags"},
    "events": {"pre_context", "post_context", "classes"},
}


def _fresh(text: str) -> str:
    """An equal string that is a new object (as a database driver returns for every row)."""
    return "".join(list(text))


def _build_rows(start: int, n: int) -> list[tuple]:
    when = dt.datetime(2026, 11, 2, 6, 0, 0)
    return [
        (
            i,
            _fresh(f"{i % 500:032x}"),
            _fresh(("zlib", "hdf5", "openmpi", "python")[i % 4]),
            _fresh("1.2.13"),
            _fresh("SUCCESS" if i % 50 else "FAILED"),
            _fresh("ubuntu22.04"),
            _fresh("linux"),
            _fresh("zen3"),
            _fresh(f"node{i % 40:02d}"),
            _fresh("#1 SMP PREEMPT_DYNAMIC"),
            _fresh("0.17.1"),
            _fresh("ci-bot"),
            _fresh('["nightly", "develop"]'),
            when + dt.timedelta(seconds=i),
        )
        for i in range(start, start + n)
    ]


@pytest.mark.slow
def test_build_rows_are_kept_as_codes_while_they_stream_in() -> None:
    """40,000 builds whose twelve text fields arrive as fresh strings (as from a driver) cost
    a few bytes each once added, page by page: the rows' strings are not kept (they were:
    14 references and 12 strings per build, about 30 MB here)."""
    cols = ServerColumns(keep_output=False)
    tracemalloc.start()
    try:
        for start in range(0, 40_000, 20_000):
            page = _build_rows(start, 20_000)
            cols.add_builds(page)
            del page
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert kept < 6e6, f"40,000 builds kept {kept / 1e6:.0f} MB while streaming in"
    frames = cols.frames(source="database", label="")
    builds = frames.builds
    assert len(builds) == 40_000
    assert builds["hostname"].nunique() == 40 and builds["spec_name"].nunique() == 4
    assert builds.loc[6, "spec_name"] == "openmpi" and builds.loc[6, "hostname"] == "node06"
    assert builds.loc[50, "status"] == "FAILED" and builds.loc[50, "outcome"] == "never built"
    assert builds.loc[3, "tags"] == ("nightly", "develop")
    assert builds.loc[3, "created_at"] == pd.Timestamp("2026-11-02T06:00:03Z")
    # one tuple of tags per distinct list, shared by the builds that carry it
    assert len({id(t) for t in builds["tags"]}) == 1


def test_database_frames_hold_no_object_columns_of_repeated_strings(tmp_path) -> None:
    runs = sorted(p for p in (EXAMPLES / "save-local").iterdir() if p.is_dir())
    with LocalMonitor(f"sqlite:///{tmp_path / 'db.sqlite'}", in_process=True) as mon:
        mon.add_user("alice")
        with mon.client("alice", progress=False, backoff=0) as client:
            assert not client.upload_local_save(runs, progress=False).problems
            for data in (MonitorData.from_database(mon.db_url), MonitorData.from_client(client)):
                for name in ("specs", "dependencies", "builds", "phases", "events"):
                    frame = getattr(data, name)
                    objects = {c for c in frame.columns if frame[c].dtype == object}
                    assert objects <= OBJECT_COLUMNS.get(name, set()), (name, objects)
                for column in ("status", "outcome", "hostname", "host_os", "spack_version"):
                    assert isinstance(data.builds[column].dtype, pd.CategoricalDtype), column
                for column in ("name", "status"):
                    assert isinstance(data.phases[column].dtype, pd.CategoricalDtype), column
                tags = data.builds["tags"]
                assert len({id(t) for t in tags}) == len(set(tags))


def test_log_texts_read_from_the_middle_of_a_table_are_not_copied() -> None:
    """PostgreSQL's synchronised scans start a table scan where another one is: the phases
    arrive as two runs of the frame's order. Their log texts are put in order as zero-copy
    slices (they were copied whole, twice the memory of the logs at the peak); a real shuffle
    is still right."""
    import numpy as np
    import pyarrow as pa

    from spackmon_analysis.loaders.server import _string_column

    texts = [f"==> [2026-11-02-06:00:{i % 60:02d}] line {i}\n" * 40 for i in range(3000)]
    texts[17] = None
    chunks = [pa.array(texts[i : i + 200], type=pa.large_string()) for i in range(0, 3000, 200)]
    rotated = np.r_[1900:3000, 0:1900]
    before = pa.total_allocated_bytes()
    column = _string_column(chunks, rotated, 3000, True)
    assert pa.total_allocated_bytes() - before < 100_000  # the texts are ~3.6 MB
    assert list(column.fillna("-")) == [texts[i] or "-" for i in rotated]
    shuffled = np.random.default_rng(0).permutation(3000)
    column = _string_column(chunks, shuffled, 3000, True)
    assert list(column.fillna("-")) == [texts[i] or "-" for i in shuffled]


def test_a_page_of_logs_is_one_buffer_of_its_size() -> None:
    """A page of phase logs becomes Arrow text in one buffer of exactly its bytes, made
    outside Arrow's allocator: Arrow's builder grows its buffers as it goes, and its default
    allocator kept up to 1.9x a page of short logs resident (0.7 GB more for the 1.5 GB of
    logs of a million builds). Missing logs, non-ASCII text and text Arrow refuses give what
    ``pyarrow.array`` gives."""
    import pyarrow as pa

    from spackmon_analysis.loaders.server import _string_chunk

    texts = [f"==> [2026-11-02-06:00:{i % 60:02d}] 'make' '-j2'\n" * 20 for i in range(2000)]
    before = pa.total_allocated_bytes()
    chunk = _string_chunk(texts, True)
    assert pa.total_allocated_bytes() - before < 10_000  # the texts are ~0.9 MB
    assert chunk.type == pa.large_string() and chunk.to_pylist() == texts
    assert chunk.buffers()[2].size == sum(map(len, texts))
    for page in (
        [texts[0], None, "", texts[1], None],
        ["plain", "naïve – ünïcode ✓", None, "ascii again"],
        [None, None],
        [],
    ):
        got = _string_chunk(page, True)
        got.validate(full=True)
        assert got.equals(pa.array(page, type=pa.large_string())), page
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate: refused as pyarrow does
        pa.array(["bad \ud800"], type=pa.large_string())
    with pytest.raises(UnicodeEncodeError):
        _string_chunk(["bad \ud800"], True)
    assert _string_chunk(texts[:3], False) == texts[:3]


#: Arrow memory pools a test measured with: kept for the life of the process (an array made
#: in one releases its memory through it whenever it is freed).
_POOLS: list[object] = []


def test_the_history_frames_do_not_copy_the_logs(tmp_path) -> None:
    """A load of a server with attempts holds each log once: the history frames take the
    phases' other columns, never their text (the history's phase rows were a copy of the
    phases frame, logs and all: 1.5 GB more at the peak of a million builds). Measured as
    Arrow's allocations during the load, far below the 8 MB of logs."""
    import pyarrow as pa

    url = example_runs_database(tmp_path / "db.sqlite")
    import sqlite3

    con = sqlite3.connect(tmp_path / "db.sqlite")
    with con:
        line = "==> [2026-11-02-06:00:00] 'make'\n" + "x" * 79 + "\n"
        con.execute(
            "UPDATE build_phases SET output = ? WHERE id = (SELECT min(id) FROM build_phases)",
            (line * 70_000,),
        )
    con.close()
    MonitorData.from_database(url)  # warm-up: imports, caches
    default = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(default)
    _POOLS.append(pool)  # arrays made in it free their memory through it, later
    pa.set_memory_pool(pool)
    try:
        data = MonitorData.from_database(url)
        peak = pool.max_memory()
    finally:
        pa.set_memory_pool(default)
    assert data.has_attempt_rows and len(data.attempt_phases) == len(data.phases)
    assert data.phases["output_size"].max() >= 7_000_000
    assert data.phases["output"].str.len().max() >= 7_000_000
    assert "output" not in data.attempt_phases.columns
    assert peak < 2_000_000, f"Arrow allocated {peak / 1e6:.1f} MB during the load"
