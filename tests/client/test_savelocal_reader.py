"""read_save_local on the real Spack 0.17.1 save-local runs in tests/data/."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from client_testlib import (
    FAILURE_RUN,
    LOCAL_IDS,
    SUCCESS_RUN,
    copy_run,
    rename_to_full_hash_style,
)

from spackmon_analysis.errors import SaveLocalError
from spackmon_analysis.loaders.savelocal import SaveLocalRun, read_save_local
from spackmon_analysis.records import BuildRecord, PhaseRecord
from spackmon_analysis.spackfacts import phase_timestamps


def test_success_run_builds_phases_and_statuses():
    [run] = read_save_local(SUCCESS_RUN)
    assert isinstance(run, SaveLocalRun)
    assert run.name == "v0.17.1-success-tinyapp"
    assert run.timestamp is None  # not a Spack-made directory name
    assert run.problems == []
    [(graph, version, filename)] = run.specs
    assert (graph.root.name, version, filename) == (
        "tinyapp",
        "0.17.1",
        "spec-tinyapp-0.3-config.json",
    )

    names = {record.key: record.spec_name for record in run.builds}
    assert names == {k: v for k, v in LOCAL_IDS.items() if v in ("tinybase", "tinyutil", "tinyapp")}
    for record in run.builds:
        assert isinstance(record, BuildRecord)
        assert record.status == "SUCCESS"
        assert record.tags == ("heldout", "success")
        assert record.run == run.name
        assert record.source == f"build-metadata-{record.key}.json"
        assert (record.host_os, record.platform, record.host_target, record.hostname) == (
            "debian12",
            "linux",
            "icelake",
            "vm",
        )
        assert record.spack_version == "0.17.1"
    tinyapp = run.build("10c3368f983fe98c9370d38cc7b5c563")
    assert (tinyapp.full_hash, tinyapp.spec_version) == ("sev5emughopmaymacihawdtjlkew2s5t", "0.3")


def test_phase_order_comes_from_log_timestamps():
    [run] = read_save_local(SUCCESS_RUN)
    tinybase = run.phases_of("4e077fd0e6997b2f609405ab264e6aae")
    assert [p.name for p in tinybase] == ["autoreconf", "configure", "build", "install"]
    assert [p.order for p in tinybase] == [0, 1, 2, 3]
    # tinyapp's edit phase has empty output (no timestamp): it still goes first
    tinyapp = run.phases_of("10c3368f983fe98c9370d38cc7b5c563")
    assert [p.name for p in tinyapp] == ["edit", "build", "install"]
    assert tinyapp[0].started_at is None
    build = tinyapp[1]
    assert isinstance(build, PhaseRecord)
    assert build.started_at == datetime(2026, 11, 28, 6, 1, 27, 840541)
    assert build.finished_at == datetime(2026, 11, 28, 6, 1, 27, 895692)
    assert build.duration == pytest.approx(0.055151)
    assert build.source == "build-10c3368f983fe98c9370d38cc7b5c563-phase-build.json"
    assert all(p.status == "SUCCESS" for p in run.phases)
    assert len(run.phases) == 10


def test_failure_run_matches_what_spack_wrote():
    [run] = read_save_local(FAILURE_RUN)
    broken = run.build("1ab48b1b401db81a0b850246f96a0136")
    app = run.build("5dc1b4dfa0a36b7fe9009965aa24e445")
    assert (broken.spec_name, broken.status) == ("tinybroken", None)  # no status file
    assert (app.spec_name, app.status) == ("tinybrokenapp", "FAILED")
    assert run.phases_of(app.key) == []
    phases = {p.name: p for p in run.phases_of(broken.key)}
    assert phases["build"].status == "ERROR"
    assert "error: expected ',' or ';' before 'return'" in phases["build"].output
    assert phases["edit"].status == "SUCCESS" and phases["edit"].output is None
    assert [p.name for p in run.phases_of(broken.key)] == ["edit", "build"]
    assert "1 FAILED" in repr(run) and "1 no status" in repr(run)


def test_directory_of_runs_in_timestamp_order(tmp_path):
    later = "2026-11-28-06-01-29-1795759289"
    earlier = "2026-11-28-06-01-26-1795759286"
    copy_run(FAILURE_RUN, tmp_path / later)
    copy_run(SUCCESS_RUN, tmp_path / earlier)
    (tmp_path / "notes.txt").write_text("not a run")
    runs = read_save_local(tmp_path)
    assert [run.name for run in runs] == [earlier, later]
    assert runs[0].timestamp < runs[1].timestamp
    assert runs[0].timestamp.year == 2026


def test_old_full_hash_naming_style(tmp_path):
    run_dir = copy_run(SUCCESS_RUN, tmp_path / "old-style")
    by_hash = rename_to_full_hash_style(run_dir)
    assert (run_dir / "build-metadata-sev5emughopmaymacihawdtjlkew2s5t.json").exists()
    [run] = read_save_local(run_dir)
    assert run.problems == []
    assert {r.key for r in run.builds} == set(by_hash)
    app = run.build("sev5emughopmaymacihawdtjlkew2s5t")
    assert app.spec_name == "tinyapp" and app.status == "SUCCESS"
    assert [p.name for p in run.phases_of(app.key)] == ["edit", "build", "install"]


def test_bad_files_are_named_and_skipped(tmp_path):
    run_dir = copy_run(FAILURE_RUN, tmp_path / "run")
    bad_phase = "build-1ab48b1b401db81a0b850246f96a0136-phase-build.json"
    (run_dir / bad_phase).write_text('{"build_id": "1ab48b1b401db81a0b850246f96a0136", "status": ')
    meta = run_dir / "build-metadata-5dc1b4dfa0a36b7fe9009965aa24e445.json"
    doc = json.loads(meta.read_text())
    del doc["hostname"]
    meta.write_text(json.dumps(doc))
    [run] = read_save_local(run_dir)
    problems = dict(run.problems)
    assert "not valid JSON" in problems[bad_phase]
    assert "hostname" in problems[meta.name]
    # the status file of the build whose metadata was bad is skipped too, by name
    assert "build-5dc1b4dfa0a36b7fe9009965aa24e445-status.json" in problems
    assert [r.spec_name for r in run.builds] == ["tinybroken"]
    assert [p.name for p in run.phases] == ["edit"]
    assert "3 problem(s)" in repr(run)
    assert bad_phase in run._repr_html_()

    # strict mode stops at the first unusable file (metadata files are read first)
    with pytest.raises(
        SaveLocalError, match="build-metadata-5dc1b4dfa0a36b7fe9009965aa24e445.json"
    ) as info:
        read_save_local(run_dir, strict=True)
    assert info.value.filename == str(meta)


def test_unusable_paths_raise(tmp_path):
    with pytest.raises(SaveLocalError, match="no such directory"):
        read_save_local(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SaveLocalError, match="holds no save-local files"):
        read_save_local(tmp_path / "empty")


def test_html_repr_lists_builds():
    [run] = read_save_local(FAILURE_RUN)
    page = run._repr_html_()
    assert "tinybrokenapp@1.0" in page and "FAILED" in page and "build (ERROR)" in page


def test_phase_timestamps_parses_spack_log_lines():
    text = "==> x: Executing phase: 'build'\n==> [2026-11-28-06:01:27.840541] 'make'\nplain\n"
    assert phase_timestamps(text) == [datetime(2026, 11, 28, 6, 1, 27, 840541)]
    assert phase_timestamps(None) == []
