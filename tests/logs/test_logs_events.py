"""parse_log on the real Spack logs in tests/data, and its event model."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from spackmon_analysis import logs
from spackmon_analysis.errors import LogParseError, SpackmonError
from spackmon_analysis.logs import LogEvent, events_frame, fingerprint, parse_log, scan_log_naive

DATA = Path(__file__).resolve().parent.parent / "data"
STAGE = (
    DATA
    / "installs/v0.17.1/failed-stage/spack-stage-tinybroken-0.9-bgd6kv3dv7wnvfjyx3ezjp5eqwkbbbdn"
)
PREFIX = DATA / "installs/v0.17.1/tinyutil-2.1-o3dvqdizwzqb5yb35aqxfy4npnx625h5"
SAVE_LOCAL = DATA / "save-local"
GCC_ERROR = "broken.c:4:3: error: expected ',' or ';' before 'return'"
MAKE_ERROR = "make: *** [Makefile:6: libtinybroken.so] Error 1"


def _phase_outputs(pattern: str) -> list[tuple[Path, str]]:
    out = []
    for f in sorted(SAVE_LOCAL.glob(pattern)):
        body = json.loads(f.read_text())
        out.append((f, body.get("output") or ""))
    return out


def test_tinybroken_build_phase_log():
    path = STAGE / "spack-build-02-build-out.txt"
    lines = path.read_text().splitlines()
    events = parse_log(path)
    assert [e.kind for e in events] == ["error", "error"]
    gcc, make = events
    assert gcc.text == GCC_ERROR
    assert gcc.line_no == 5 and lines[gcc.line_no - 1] == GCC_ERROR
    assert (gcc.source_file, gcc.source_line_no) == ("broken.c", 4)
    # an event in the first lines: the 4 lines before it, not padded or lost
    assert gcc.pre_context == lines[0:4]
    assert gcc.post_context == lines[5:8]
    assert "compiler_error" in gcc.classes
    assert gcc.repeat_count == 1
    assert make.text == MAKE_ERROR and make.line_no == 8
    assert (make.source_file, make.source_line_no) == ("Makefile", 6)
    assert make.pre_context == lines[1:7] and make.post_context == []
    assert "make_failure" in make.classes
    assert logs.summary_class(events) == "compiler_error"


def test_tinybroken_full_log_has_six_lines_of_context():
    path = STAGE / "spack-build-out.txt"
    lines = path.read_text().splitlines()
    gcc = parse_log(path)[0]
    assert gcc.text == GCC_ERROR and gcc.line_no == 8
    assert gcc.pre_context == lines[1:7]
    assert gcc.post_context == lines[8:11]
    short = parse_log(path, context=2)[0]
    assert short.pre_context == lines[5:7] and short.post_context == lines[8:10]
    none = parse_log(path, context=0)[0]
    assert none.pre_context == [] and none.post_context == []


def test_save_local_failed_phase_output_gives_the_same_events():
    (_, output), *_ = _phase_outputs("v0.17.1-failure-tinybrokenapp/build-*-phase-build.json")
    events = parse_log(output)
    assert [(e.kind, e.text, e.source_file, e.source_line_no) for e in events] == [
        ("error", GCC_ERROR, "broken.c", 4),
        ("error", MAKE_ERROR, "Makefile", 6),
    ]
    assert [e.to_dict() for e in events] == [
        e.to_dict() for e in parse_log(STAGE / "spack-build-02-build-out.txt")
    ]


def test_no_false_events_in_successful_logs():
    texts = [p.read_text() for p in sorted((PREFIX / ".spack").glob("*.txt"))]
    texts += [out for _, out in _phase_outputs("v0.17.1-success-tinyapp/*-phase-*.json")]
    assert len(texts) > 10
    for text in texts:
        assert parse_log(text) == [], text[:200]
    # the environment dump of the failed build is no log of errors either
    assert parse_log(STAGE / "spack-build-env.txt") == []


def test_repeated_events_are_counted_once_with_the_first_context():
    text = "\n".join(
        [
            "start",
            "x.c:1:1: warning: unused variable 'a' [-Wunused-variable]",
            "middle 1",
            "x.c:1:1: warning: unused variable 'a' [-Wunused-variable]",
            "middle 2",
            "x.c:1:1: warning: unused variable 'a' [-Wunused-variable]",
            "end",
        ]
    )
    (ev,) = parse_log(text)
    assert ev.kind == "warning" and ev.repeat_count == 3
    assert ev.line_no == 2 and ev.pre_context == ["start"]
    assert ev.post_context[:2] == [
        "middle 1",
        "x.c:1:1: warning: unused variable 'a' [-Wunused-variable]",
    ]


def test_multi_digit_source_line_numbers():
    text = "\n".join(
        [
            "src/foo.c:1234:5: error: 'bar' undeclared",
            "solver.f90(98765): error #6404: This name does not have a type",
            '"mesh.c", line 4321: error: identifier "q" is undefined',
            "/abs/path/io.cpp:10:2: warning: unused parameter 'n' [-Wunused-parameter]",
            "PGC-S-0035-Syntax error: Recovery attempted by deleting ; (kern.c: 77)",
        ]
    )
    got = [(e.source_file, e.source_line_no) for e in parse_log(text)]
    assert got == [
        ("src/foo.c", 1234),
        ("solver.f90", 98765),
        ("mesh.c", 4321),
        ("/abs/path/io.cpp", 10),
        ("kern.c", 77),
    ]


def test_exceptions_and_compile_lines_with_error_words():
    text = "\n".join(
        [
            "/spack/env/gcc/gcc -O2 -Werror=implicit-function-declaration -Wno-error=unused -c error.c -o error.o",
            "libtool: compile:  gcc -DHAVE_CONFIG_H -Werror -c src/error.c  -fPIC -DPIC -o src/.libs/error.o",
            "  CC       src/error.lo",
            "broken.c:10:3: note: 'error' declared here",
            "foo.c:7:2: warning: passing argument 1 of 'error' makes pointer from integer; error: x",
            "checking for strerror_r... yes",
            "make: [Makefile:31: clean] Error 1 (ignored)",
            "real.c:3:9: error: 'x' undeclared [-Werror=implicit]",
        ]
    )
    events = parse_log(text)
    assert [(e.kind, e.line_no) for e in events] == [("warning", 5), ("warning", 7), ("error", 8)]


def test_gzip_and_iterable_inputs_match_the_plain_file(tmp_path):
    plain = STAGE / "spack-build-out.txt"
    gz = tmp_path / "spack-build-out.txt.gz"
    with open(plain, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    expected = [e.to_dict() for e in parse_log(plain)]
    assert [e.to_dict() for e in parse_log(gz)] == expected
    with open(plain) as fh:
        assert [e.to_dict() for e in parse_log(fh)] == expected
    assert [e.to_dict() for e in parse_log(plain.read_text().splitlines())] == expected
    assert [e.to_dict() for e in parse_log(plain.read_bytes())] == expected
    assert [
        e.to_dict() for e in parse_log(iter(plain.read_bytes().splitlines(keepends=True)))
    ] == expected


def test_crlf_text_is_read_like_lf():
    text = (STAGE / "spack-build-out.txt").read_text()
    assert [e.to_dict() for e in parse_log(text.replace("\n", "\r\n"))] == [
        e.to_dict() for e in parse_log(text)
    ]


def test_a_str_is_log_text_never_a_file_name():
    # a server parses uploaded output: text naming a file must not open that file
    name = str(STAGE / "spack-build-out.txt")
    assert parse_log(name) == []
    assert len(parse_log(Path(name))) == 2


def test_block_boundaries_do_not_change_events(tmp_path, monkeypatch):
    """Tiny read blocks: context and line numbers across block edges are still right."""
    parts = [(STAGE / "spack-build-out.txt").read_text()]
    for i in range(30):
        parts.append(f"step {i} ok\n")
        if i % 7 == 0:
            parts.append(
                f"gen_{i}.c:{100 + i}:2: warning: unused variable 'v{i}' [-Wunused-variable]\n"
            )
        if i % 11 == 0:
            parts.append(MAKE_ERROR + "\n")
    text = "".join(parts) + "x.c:1:1: error: last line without newline"
    path = tmp_path / "log.txt"
    path.write_text(text)
    expected = [e.to_dict() for e in scan_log_naive(text)]
    assert [e.to_dict() for e in parse_log(text)] == expected
    monkeypatch.setattr(logs, "_BLOCK_CHARS", 37)
    assert [e.to_dict() for e in parse_log(path)] == expected
    assert [e.to_dict() for e in parse_log(text.splitlines())] == expected
    last = parse_log(path)[-1]
    assert last.line_no == len(text.splitlines()) and last.post_context == []
    make = next(e for e in parse_log(path) if e.text == MAKE_ERROR)
    assert make.repeat_count == 4


def test_unreadable_sources_raise_log_parse_error(tmp_path):
    with pytest.raises(LogParseError, match="missing.txt"):
        parse_log(tmp_path / "missing.txt")
    bad = tmp_path / "broken.txt.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(LogParseError, match="broken.txt.gz"):
        parse_log(bad)
    with pytest.raises(LogParseError):
        parse_log(12345)
    with pytest.raises(LogParseError):
        parse_log([1, 2])
    with pytest.raises(SpackmonError):
        parse_log("x", context=-1)


def test_classify_false_and_to_dict():
    events = parse_log(STAGE / "spack-build-out.txt", classify=False)
    assert all(e.classes == () for e in events)
    d = parse_log(STAGE / "spack-build-out.txt")[0].to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["classes"][0] == "compiler_error" and d["source_line_no"] == 4
    assert isinstance(parse_log(STAGE / "spack-build-out.txt")[0], LogEvent)


def test_events_frame_dtypes():
    events = parse_log(STAGE / "spack-build-out.txt") + parse_log(
        "a.c:2:1: warning: w [-Wx]\nwarning: plain"
    )
    df = events_frame(events)
    assert list(df["kind"]) == ["error", "error", "warning", "warning"]
    assert str(df["kind"].dtype) == "category"
    assert str(df["source_line_no"].dtype) == "Int64"
    assert df["source_line_no"].tolist()[:3] == [4, 6, 2]
    assert df["source_line_no"].isna().tolist() == [False, False, False, True]
    assert df["primary_class"].tolist()[:2] == ["compiler_error", "make_failure"]
    assert df.loc[0, "pre_context"][-1] == "broken.c: In function 'tinybroken_value':"
    assert events_frame([]).empty


def test_fingerprint_is_stable_across_paths_hashes_and_numbers():
    a = "/tmp/u1/spack-stage/spack-stage-tinybroken-0.9-bgd6kv3dv7wnvfjyx3ezjp5eqwkbbbdn/spack-src/broken.c:4:3: error: expected ';'"
    b = "/home/ci/stage/spack-stage-tinybroken-1.0-o3dvqdizwzqb5yb35aqxfy4npnx625h5/spack-src/broken.c:17:9: error: expected ';'"
    assert fingerprint(a) == fingerprint(b) == "broken.c:N:N: error: expected ';'"
    assert fingerprint("undefined reference to `f' at 0x7ffd1234") == fingerprint(
        "undefined reference to `f' at 0x10"
    )
    assert fingerprint("ld: libfoo-zwkj7pxtoj4w5enz5rkwmj7rrjtyxlik.so") == fingerprint(
        "ld: libfoo-atgeyz744wvofguoyidcnry3fpbj4pkw.so"
    )
    assert fingerprint("commit 3f2a9c1d0e failed") == "commit <hash> failed"
    assert fingerprint("x.c:1:1: error: expected ';'") != fingerprint(
        "x.c:1:1: error: expected ','"
    )
    ev = parse_log(STAGE / "spack-build-out.txt")[0]
    assert ev.fingerprint == "broken.c:N:N: error: expected ',' or ';' before 'return'"
