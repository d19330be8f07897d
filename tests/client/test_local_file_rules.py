"""Local files read for upload (issue 14): no symbolic link out of the install prefix or
the save-local run directory is followed, sizes are capped (compressed and decoded), and
every skipped file is named. The uploads go to the real embedded monitor."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
from client_testlib import SUCCESS_RUN, TINYAPP_SPEC, TINYUTIL_PREFIX

from spackmon_analysis import localfiles
from spackmon_analysis.client import SpackMonitorClient
from spackmon_analysis.errors import InstallPrefixError, SpecFormatError
from spackmon_analysis.frames import load_install_tree, load_save_local
from spackmon_analysis.loaders.installs import read_install_prefix
from spackmon_analysis.loaders.savelocal import read_save_local

SECRET = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def secret(tmp_path):
    """A file outside every prefix and run directory."""
    path = tmp_path / "home" / "credentials"
    path.parent.mkdir()
    path.write_text(SECRET + "\n")
    return path


def _prefix(tmp_path):
    root = tmp_path / "opt" / TINYUTIL_PREFIX.name
    shutil.copytree(TINYUTIL_PREFIX, root)
    return root


def test_a_symlinked_configure_args_file_outside_the_prefix_is_not_published(
    monitor, tmp_path, secret
):
    """The attack: ``.spack/spack-configure-args.txt`` -> a secret elsewhere; the build
    goes up without it, and the skipped file is named (warning, record, data.notes)."""
    prefix = _prefix(tmp_path)
    link = prefix / ".spack" / "spack-configure-args.txt"
    link.symlink_to(secret)

    record = read_install_prefix(prefix)
    assert record.build.config_args is None
    [(path, reason)] = record.skipped
    assert path == str(link)
    assert "a symbolic link to" in reason and "outside" in reason

    client = SpackMonitorClient(
        host=monitor.url, username="alice", token=monitor.test_token, progress=False
    )
    with pytest.warns(UserWarning, match="spack-configure-args.txt"):
        client.analyze_install(prefix)
    public = json.dumps(list(client.builds())) + json.dumps(list(client.pull("attributes")))
    assert "wJalrXUtnFEMI" not in public

    data = load_install_tree(tmp_path / "opt")
    assert any(name == str(link) and "outside" in note for name, note in data.notes)


def test_a_symlink_inside_the_prefix_is_read(tmp_path):
    prefix = _prefix(tmp_path)
    (prefix / "share").mkdir()
    target = prefix / "share" / "configure-args"
    target.write_text("--enable-shared\n")
    (prefix / ".spack" / "spack-configure-args.txt").symlink_to(target)
    record = read_install_prefix(prefix)
    assert record.build.config_args == "--enable-shared"
    assert record.skipped == []


def test_a_symlinked_phase_log_outside_the_prefix_is_skipped_and_named(tmp_path, secret):
    prefix = _prefix(tmp_path)
    log = prefix / ".spack" / "spack-build-02-build-out.txt"
    log.unlink()
    log.symlink_to(secret)
    record = read_install_prefix(prefix)
    assert [p.name for p in record.phases] == ["edit", "install"]
    assert [path for path, _reason in record.skipped] == [str(log)]
    assert all(SECRET not in (p.output or "") for p in record.phases)


def test_a_symlinked_spec_outside_the_prefix_refuses_the_prefix(tmp_path):
    prefix = _prefix(tmp_path)
    elsewhere = tmp_path / "elsewhere.json"
    shutil.copy(prefix / ".spack" / "spec.json", elsewhere)
    (prefix / ".spack" / "spec.json").unlink()
    (prefix / ".spack" / "spec.json").symlink_to(elsewhere)
    with pytest.raises(InstallPrefixError, match="spec file not read: a symbolic link"):
        read_install_prefix(prefix)


def test_a_gzip_bomb_phase_log_is_skipped_and_named(tmp_path, monkeypatch):
    monkeypatch.setattr(localfiles, "MAX_DECODED_BYTES", 1024 * 1024)
    prefix = _prefix(tmp_path)
    log = prefix / ".spack" / "spack-build-02-build-out.txt"
    log.unlink()
    (log.parent / (log.name + ".gz")).write_bytes(gzip.compress(b"x" * (8 * 1024 * 1024)))
    record = read_install_prefix(prefix)
    assert "build" not in [p.name for p in record.phases]
    [(path, reason)] = record.skipped
    assert path.endswith("spack-build-02-build-out.txt.gz")
    assert "decompresses to more than 1,048,576 bytes" in reason


def test_a_symlinked_save_local_file_outside_the_run_is_not_replayed(monitor, tmp_path, secret):
    """A phase file of a save-local run that links out of the run directory: skipped,
    named in the replay summary; the rest of the run uploads."""
    run = tmp_path / "runs" / SUCCESS_RUN.name
    shutil.copytree(SUCCESS_RUN, run)
    phase = sorted(run.glob("build-*-phase-build.json"))[0]
    outside = tmp_path / "home" / "phase.json"
    doc = json.loads(phase.read_text())
    doc["output"] = SECRET
    outside.write_text(json.dumps(doc))
    phase.unlink()
    phase.symlink_to(outside)

    client = SpackMonitorClient(
        host=monitor.url, username="alice", token=monitor.test_token, progress=False, backoff=0
    )
    summary = client.upload_local_save(run)
    named = {path: message for path, message in summary.problems}
    assert str(phase) in named and "outside" in named[str(phase)]
    assert summary.counts["phases"]["skipped"] == 1
    assert summary.counts["builds"]["created"] == 3
    outputs = json.dumps([row.get("output") for row in client.phases()])
    assert "wJalrXUtnFEMI" not in outputs
    assert str(phase) in repr(summary)

    data = load_save_local(run)
    assert any(name.endswith(phase.name) and "outside" in msg for name, msg in data.problems)


def test_an_oversized_save_local_file_is_skipped_and_named(tmp_path, monkeypatch):
    run = tmp_path / SUCCESS_RUN.name
    shutil.copytree(SUCCESS_RUN, run)
    phase = sorted(run.glob("build-*-phase-build.json"))[0]
    monkeypatch.setattr(localfiles, "MAX_FILE_BYTES", phase.stat().st_size - 1)
    [read] = read_save_local(run)
    reasons = dict(read.problems)
    assert "over the cap" in reasons[phase.name]


def test_a_spec_file_that_decompresses_past_the_cap_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(localfiles, "MAX_DECODED_BYTES", 1024 * 1024)
    bomb = tmp_path / "spec.json.gz"
    text = TINYAPP_SPEC.read_text()
    bomb.write_bytes(gzip.compress(text.encode() + b" " * (4 * 1024 * 1024)))
    client = SpackMonitorClient(host="http://127.0.0.1:9", progress=False)
    with pytest.raises(SpecFormatError, match="decompresses to more than 1,048,576 bytes"):
        client.upload_specfile(bomb, "0.17.1")
    assert client.request_count == 0


def test_a_symlinked_save_local_file_is_named_in_notes_and_listed_once(tmp_path, secret, capsys):
    """The loader rule: what a loader skips is named in ``data.notes`` (as install trees
    name theirs), and ``spackmon failures`` lists the skipped file once, exiting 1."""
    from spackmon_analysis.cli import main

    run = tmp_path / "runs" / SUCCESS_RUN.name
    shutil.copytree(SUCCESS_RUN, run)
    phase = sorted(run.glob("build-*-phase-build.json"))[0]
    phase.unlink()
    phase.symlink_to(secret)

    data = load_save_local(run)
    [(name, message)] = data.notes
    assert name == f"{run.name}/{phase.name}"
    assert message.startswith("skipped: a symbolic link to") and "outside" in message
    assert (name, message) in data.problems

    assert main(["failures", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.count(phase.name) == 1, err
    assert "outside" in err


def test_a_symlinked_metadata_directory_outside_the_prefix_is_not_read(tmp_path, secret):
    """Not only a file: ``<prefix>/.spack`` itself a symbolic link to a folder elsewhere
    (holding a spec and a secret configure-args file) is outside the prefix, so nothing
    in it is read; the loader names the prefix and why."""
    prefix = _prefix(tmp_path)
    elsewhere = tmp_path / "home" / "meta"
    shutil.move(prefix / ".spack", elsewhere)
    shutil.copy(secret, elsewhere / "spack-configure-args.txt")
    (prefix / ".spack").symlink_to(elsewhere, target_is_directory=True)

    with pytest.raises(InstallPrefixError, match="spec file not read: a symbolic link"):
        read_install_prefix(prefix)
    data = load_install_tree(prefix)
    [(name, message)] = data.problems
    assert name == str(prefix) and "outside" in message
    assert len(data.builds) == 0


def test_a_symlinked_directory_on_a_phase_log_path_is_not_followed(tmp_path, secret):
    """A phase log reached through a symlinked directory inside the metadata folder is
    read only when the directory stays inside the prefix."""
    prefix = _prefix(tmp_path)
    outside = tmp_path / "home" / "logs"
    outside.mkdir()
    (outside / "spack-build-02-build-out.txt").write_text(SECRET + "\n")
    (prefix / ".spack" / "spack-build-02-build-out.txt").unlink()
    (prefix / ".spack" / "logs").symlink_to(outside, target_is_directory=True)
    log = prefix / ".spack" / "spack-build-02-build-out.txt"
    log.symlink_to("logs/spack-build-02-build-out.txt")

    record = read_install_prefix(prefix)
    assert [p.name for p in record.phases] == ["edit", "install"]
    [(path, reason)] = record.skipped
    assert path == str(log) and "outside" in reason
    assert all(SECRET not in (p.output or "") for p in record.phases)


def test_upload_specfile_reads_the_file_once(monitor, tmp_path, monkeypatch):
    """The document checked is the document sent: a gzipped spec file is read (and
    decompressed) once, not once to check and again to upload."""
    path = tmp_path / "spec.json.gz"
    path.write_bytes(gzip.compress(TINYAPP_SPEC.read_bytes()))
    reads = []
    real = localfiles.read_local
    monkeypatch.setattr(
        localfiles, "read_local", lambda *a, **k: reads.append(a[0]) or real(*a, **k)
    )
    client = SpackMonitorClient(
        host=monitor.url, username="alice", token=monitor.test_token, progress=False
    )
    answer = client.upload_specfile(path, "0.17.1")
    assert answer["code"] == 201
    assert reads == [path]


def test_a_folder_swapped_for_a_link_out_while_being_read_is_refused(tmp_path, secret, monkeypatch):
    """The race: the path is checked, then a folder on it is replaced by a symbolic link
    to a folder elsewhere before the file is opened. What was really opened is checked."""
    import os
    import sys

    if not os.path.isdir("/proc/self/fd") or sys.platform != "linux":
        pytest.skip("needs /proc/self/fd (Linux)")
    prefix = _prefix(tmp_path)
    meta = prefix / ".spack"
    elsewhere = tmp_path / "home" / "meta"
    elsewhere.mkdir()
    (elsewhere / "spack-configure-args.txt").write_text(SECRET + "\n")
    (meta / "spack-configure-args.txt").write_text("--enable-shared\n")
    assert localfiles.read_local(meta / "spack-configure-args.txt", prefix) == b"--enable-shared\n"
    real_open = os.open

    def swap_then_open(path, flags, *args, **kwargs):
        if str(path).endswith("spack-configure-args.txt"):
            shutil.move(meta, tmp_path / "moved-away")
            meta.symlink_to(elsewhere, target_is_directory=True)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(localfiles.os, "open", swap_then_open)
    with pytest.raises(localfiles.UnsafeFileError, match="outside") as info:
        localfiles.read_local(meta / "spack-configure-args.txt", prefix)
    assert "replaced by a symbolic link" in str(info.value)
