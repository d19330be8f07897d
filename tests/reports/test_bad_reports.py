"""Malformed, truncated and hostile reports raise ReportError naming the file and element."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spackmon_analysis as sma
from spackmon_analysis.errors import ReportError

DATA = Path(__file__).resolve().parent.parent / "data"
JUNIT = DATA / "reports" / "v0.22.1-junit-failure-tinybrokenapp" / "junit-tinybrokenapp.xml"
CDASH = DATA / "derived" / "cdash-failure-tinybrokenapp"
CDASH_REAL = DATA / "reports" / "v0.22.1-cdash-success-tinyapp"


def _write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def test_junit_truncated_at_every_byte(tmp_path: Path) -> None:
    """Every prefix of the real report that is not the whole document is refused, naming
    the file; once the root element is open, the element left open is named too."""
    data = JUNIT.read_bytes()
    end = len(data.rstrip())
    root_open = data.index(b"<testsuites>") + len(b"<testsuites>")
    path = tmp_path / "cut.xml"
    for cut in range(end):
        path.write_bytes(data[:cut])
        with pytest.raises(ReportError) as info:
            sma.load_junit(path)
        exc = info.value
        assert exc.filename == str(path) and str(path) in str(exc), cut
        if cut > root_open:
            assert exc.element and exc.element.startswith("testsuites"), (cut, exc.element)
            assert f"<{exc.element}>" in str(exc)
    path.write_bytes(data[:end])
    assert len(sma.load_junit(path).builds) == 6


def test_junit_with_a_damaged_encoding_name(tmp_path: Path) -> None:
    # found by the damaged-reports property test: one byte gone from encoding="UTF-8"
    data = JUNIT.read_bytes()
    assert b'encoding="UTF-8"' in data[:60]
    path = _write(tmp_path, "enc.xml", data.replace(b'encoding="UTF-8"', b'encoding="TF-8"', 1))
    with pytest.raises(ReportError) as info:
        sma.load_junit(path)
    assert info.value.filename == str(path)
    assert "unknown encoding" in str(info.value) and str(path) in str(info.value)


def test_cdash_truncated_at_every_byte(tmp_path: Path) -> None:
    """As for JUnit: the file is named, and once the root element (``Site``; ``Update`` in
    an Update.xml) is open, the element left open is named too."""
    for name, root in (
        ("tinybroken_Build.xml", "Site"),
        ("tinybroken_Configure.xml", "Site"),
        ("tinybroken_Update.xml", "Update"),
    ):
        folder = tmp_path / name
        shutil.copytree(CDASH, folder)
        target = folder / name
        data = target.read_bytes()
        end = len(data.rstrip())
        root_open = data.index(b">", data.index(f"<{root}".encode())) + 1
        for cut in range(0, end, 3 if name.endswith("Build.xml") else 1):
            target.write_bytes(data[:cut])
            with pytest.raises(ReportError) as info:
                sma.load_cdash(folder)
            exc = info.value
            assert exc.filename == str(target), (name, cut)
            assert str(target) in str(exc)
            if cut > root_open:
                assert exc.element and exc.element.startswith(root), (name, cut, exc.element)
                assert f"<{exc.element}>" in str(exc)


def test_truncated_element_is_named(tmp_path: Path) -> None:
    data = JUNIT.read_bytes()
    cut = data.index(b"broken.c:4:3")  # inside tinybroken's <system-out>
    path = _write(tmp_path, "r.xml", data[:cut])
    with pytest.raises(ReportError) as info:
        sma.load_junit(path)
    assert info.value.element == "testsuites/testsuite[0]/testcase[5]/system-out[0]"
    assert "not well-formed XML at line" in str(info.value)


@pytest.mark.parametrize(
    ("old", "new", "element"),
    [
        (b'time="0.26119446754455566">', b'time="fast">', "testsuites/testsuite[0]/testcase[5]@time"),
        (b'time="0.26119446754455566">', b'time="-1">', "testsuites/testsuite[0]/testcase[5]@time"),
        (b'time="0.26119446754455566">', b'time="nan">', "testsuites/testsuite[0]/testcase[5]@time"),
        (b'<testcase classname="tinybroken"', b"<testcase", "testsuites/testsuite[0]/testcase[5]"),
        (b'name="zkrnssrjgjyycae3swuvljmjzdhlukeo"', b'name="../../x"', "testsuites/testsuite[0]/testcase[5]@name"),
        (b'<testsuite name="tinybrokenapp_2sa24ew"', b"<testsuite", "testsuites/testsuite[0]"),
        (b"<testsuites>", b"<results>", "results"),
    ],
)  # fmt: skip
def test_junit_missing_or_bad_fields(tmp_path: Path, old: bytes, new: bytes, element: str) -> None:
    data = JUNIT.read_bytes()
    if old == b"<testsuites>":
        data = data.replace(b"</testsuites>", b"</results>")
    assert old in data
    path = _write(tmp_path, "bad.xml", data.replace(old, new, 1))
    with pytest.raises(ReportError) as info:
        sma.load_junit(path)
    assert info.value.element == element and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("file", "old", "new", "element"),
    [
        ("tinybroken_Build.xml", b"<StartBuildTime>1796248166", b"<StartBuildTime>soon", "Site/Build/StartBuildTime"),
        ("tinybroken_Build.xml", b"<BuildLogLine>5<", b"<BuildLogLine>five<", "Site/Build/Error[0]/BuildLogLine"),
        ("tinybroken_Build.xml", b"<Build>", b"<Nothing>", "Site"),
        ("tinybroken_Configure.xml", b"<ConfigureStatus>0", b"<ConfigureStatus>x", "Site/Configure/ConfigureStatus"),
        ("tinybroken_Update.xml", b"<StartTime>1796248166", b"<StartTime>x", "Update/StartTime"),
    ],
)  # fmt: skip
def test_cdash_missing_or_bad_fields(
    tmp_path: Path, file: str, old: bytes, new: bytes, element: str
) -> None:
    folder = tmp_path / "r"
    shutil.copytree(CDASH, folder)
    target = folder / file
    data = target.read_bytes()
    if old == b"<Build>":
        data = data.replace(b"</Build>", b"</Nothing>")
    assert old in data
    target.write_bytes(data.replace(old, new, 1))
    with pytest.raises(ReportError) as info:
        sma.load_cdash(folder)
    assert info.value.element == element and info.value.filename == str(target)


def test_not_a_report(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="empty"):
        sma.load_junit(_write(tmp_path, "e.xml", b"  \n"))
    with pytest.raises(ReportError, match="no CDash build report files"):
        sma.load_cdash(tmp_path)
    with pytest.raises(ReportError, match="no such file"):
        sma.load_junit(tmp_path / "missing.xml")


LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<testsuites><testsuite name="x_abcdefg"><testcase classname="x" name="abc" time="1">
<system-out>&lol9;</system-out></testcase></testsuite></testsuites>
"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuites><testsuite name="x_abcdefg"><testcase classname="x" name="abc" time="1">
<system-out>&secret;</system-out></testcase></testsuite></testsuites>
"""


@pytest.mark.parametrize("payload", [LAUGHS, EXTERNAL], ids=["billion laughs", "external entity"])
def test_entities_are_refused(tmp_path: Path, payload: bytes) -> None:
    path = _write(tmp_path, "evil.xml", payload)
    with pytest.raises(ReportError, match="document type declaration") as info:
        sma.load_junit(path)
    assert "root:x:0:0" not in str(info.value)
    folder = tmp_path / "cdash"
    folder.mkdir()
    _write(folder, "Build.xml", payload.replace(b"testsuites", b"Site"))
    with pytest.raises(ReportError, match="document type declaration"):
        sma.load_cdash(folder)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_damaged_reports_load_or_raise_report_error(tmp_path: Path, data: st.DataObject) -> None:
    """Bytes deleted, replaced or inserted anywhere: the report loads, or a ReportError names
    the file; never another exception."""
    original = bytearray(JUNIT.read_bytes())
    edits = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(original) - 1), st.binary(max_size=4), st.integers(0, 6)),
            min_size=1,
            max_size=4,
        )
    )
    damaged = bytearray(original)
    for position, insert, delete in edits:
        position = min(position, len(damaged))
        damaged[position : position + delete] = insert
    path = _write(tmp_path, "damaged.xml", bytes(damaged))
    try:
        sma.load_junit(path)
    except ReportError as exc:
        assert exc.filename == str(path)


def test_seeded_cdash_damage(tmp_path: Path) -> None:
    rng = random.Random(12)
    for round_ in range(60):
        folder = tmp_path / f"r{round_}"
        shutil.copytree(CDASH_REAL, folder)
        target = rng.choice(sorted(folder.glob("*.xml")))
        data = bytearray(target.read_bytes())
        at = rng.randrange(len(data))
        data[at : at + rng.randrange(1, 5)] = bytes(
            rng.randrange(256) for _ in range(rng.randrange(0, 3))
        )
        target.write_bytes(bytes(data))
        try:
            sma.load_cdash(folder)
        except ReportError as exc:
            assert str(target) in str(exc), round_


def test_oversize_or_special_report_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report over the local-file size cap, or a FIFO named like one, is refused with a
    ReportError naming the file (not read whole into memory, not blocked on)."""
    import os

    from spackmon_analysis import localfiles

    copy = tmp_path / "junit-tinybrokenapp.xml"
    shutil.copy(JUNIT, copy)
    assert len(sma.load_junit(copy).builds) >= 1  # the real copy loads
    monkeypatch.setattr(localfiles, "MAX_FILE_BYTES", copy.stat().st_size - 1)
    with pytest.raises(ReportError) as info:
        sma.load_junit(copy)
    assert info.value.filename == str(copy) and "over the cap" in str(info.value)
    monkeypatch.undo()
    fifo = tmp_path / "fifo.xml"
    os.mkfifo(fifo)
    with pytest.raises(ReportError) as info:
        sma.load_junit(fifo)
    assert "not a regular file" in str(info.value)


def test_load_folder_does_not_follow_links_out_or_loop(tmp_path: Path) -> None:
    """load(folder): a report that is a symbolic link out of the folder is not read and is
    named in notes; a symbolic link loop of folders is not followed (the load ends)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(JUNIT, outside / "junit-secret.xml")
    folder = tmp_path / "reports"
    folder.mkdir()
    shutil.copy(JUNIT, folder / "junit-tinybrokenapp.xml")
    (folder / "junit-link.xml").symlink_to(outside / "junit-secret.xml")
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    data = sma.load(folder)
    skipped = [(p, why) for p, why in data.notes if p == str(folder / "junit-link.xml")]
    assert any("outside" in why and "not read" in why for _, why in skipped)
    assert len(data.builds) == len(sma.load(folder / "junit-tinybrokenapp.xml").builds)
