"""Files derived from the real reports, for the tests that need what the real runs did not keep.

Run ``python tests/reports/derive.py`` to rewrite ``tests/data/derived/``; the test
``test_derived_files_are_current`` checks that the committed files are what this writes.

- ``tinybrokenapp-spack-0.22.1-zen3.json``: the DAG of the JUnit run's root. The real run
  kept no spec file, so this is the real ``specs/tinyapp-spack-0.22.1.json`` (icelake
  machine) with each node's hash replaced by the hash the JUnit report gives for it on the
  zen3 machine, the target set to zen3, and two nodes added in the same format:
  ``tinybroken@0.9`` (hash from the report; depends on tinybase, gcc-runtime, glibc, gmake)
  and the root ``tinybrokenapp@1.0`` (depends on tinybroken, tinyutil, gcc-runtime, glibc,
  gmake). The root's full hash is not in the report (only its first seven characters,
  ``2sa24ew``, in the suite name), so its remaining 25 characters read ``derived...``.
- ``cdash-failure-tinybrokenapp/``: the CDash report Spack 0.22.1 would write for the same
  run, written by :func:`write_cdash` (the reporter's rules: phase mapping, file names,
  double escaping of event text, errors as warnings for a package that succeeded) from the
  JUnit report's real tinybroken log.
- ``cdash-single-tinybroken/``: the same for a run that built tinybroken alone (the
  single-package form: ``Build.xml``, ``Configure.xml``, ``Update.xml`` with no prefix).
"""

from __future__ import annotations

import json
import sys
import xml.sax.saxutils
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
DERIVED = DATA / "derived"
JUNIT = DATA / "reports" / "v0.22.1-junit-failure-tinybrokenapp" / "junit-tinybrokenapp.xml"

ZEN3 = {
    "gcc-runtime": "4l4xgdlu3e4w6x57v4muvzgg7ubfegsd",
    "glibc": "4jbapu42hrihq5l2hmbyugabuwujk5be",
    "gmake": "qhxuwi2tmdafohplmvocfrvjd4rcmkvm",
    "tinybase": "fj42lltb6vhc3xubxszo74soejw5doia",
    "tinyutil": "zpnzpxzbylqinsjjhljdxjw7yc4xpsiw",
    "tinybroken": "zkrnssrjgjyycae3swuvljmjzdhlukeo",
    "tinybrokenapp": "2sa24ewderivedderivedderivedderi",
}
GENERATOR = "spack-0.22.1 (d66dce2d668a6234504594661506cdd1eaca4adc)"
COMMIT = "d66dce2d668a6234504594661506cdd1eaca4adc"
#: Spack's phase -> CDash step (reporters/cdash.py)
CDASH_STEP = {
    "autoreconf": "configure", "bootstrap": "configure", "build": "build",
    "build_processes": "build", "cmake": "configure", "configure": "configure",
    "edit": "configure", "generate_luarocks_config": "configure", "hostconfig": "configure",
    "initconfig": "configure", "install": "build", "meson": "configure",
    "preprocess": "configure", "qmake": "configure", "unpack": "configure",
}  # fmt: skip


def derived_spec() -> dict:
    doc = json.loads((DATA / "specs" / "tinyapp-spack-0.22.1.json").read_text())
    nodes = doc["spec"]["nodes"]
    by_name = {n["name"]: n for n in nodes}
    old = {n["name"]: n["hash"] for n in nodes}
    out = []
    for node in nodes:
        if node["name"] == "tinyapp":
            continue
        node = json.loads(json.dumps(node))
        node["hash"] = ZEN3[node["name"]]
        node["arch"]["target"] = "zen3"
        for dep in node.get("dependencies", []):
            assert dep["hash"] == old[dep["name"]]
            dep["hash"] = ZEN3[dep["name"]]
        out.append(node)
    template = by_name["tinyutil"]

    def add(name: str, version: str, deps: list[tuple[str, list[str]]]) -> dict:
        node = json.loads(json.dumps(template))
        node.update(name=name, version=version, hash=ZEN3[name])
        node["arch"]["target"] = "zen3"
        node["package_hash"] = None
        del node["package_hash"]
        node["dependencies"] = [
            {
                "name": d,
                "hash": ZEN3[d],
                "parameters": {"deptypes": t, "virtuals": ["libc"] if d == "glibc" else []},
            }
            for d, t in deps
        ]
        return node

    common = [("gcc-runtime", ["link"]), ("glibc", ["link"]), ("gmake", ["build"])]
    broken = add("tinybroken", "0.9", [*common, ("tinybase", ["build", "link"])])
    app = add(
        "tinybrokenapp",
        "1.0",
        [*common, ("tinybroken", ["build", "link"]), ("tinyutil", ["build", "link"])],
    )
    return {"spec": {"_meta": doc["spec"]["_meta"], "nodes": [app, broken, *out]}}


def _events(lines: list[str], success: bool) -> tuple[list, list]:
    from spackmon_analysis.logs import parse_log

    events = parse_log("\n".join(lines), classify=False)
    errors = [e for e in events if e.kind == "error"]
    warnings = [e for e in events if e.kind == "warning"]
    if success:
        warnings, errors = errors + warnings, []
    return errors[:50], warnings[:50]


def _entry(tag: str, e) -> str:
    esc = xml.sax.saxutils.escape
    return (
        f"    <{tag}>\n      <BuildLogLine>{e.line_no}</BuildLogLine>\n"
        f"      <Text>{esc(e.text)}</Text>\n      <SourceFile>{esc(e.source_file or '')}</SourceFile>\n"
        f"      <SourceLineNumber>{e.source_line_no if e.source_file else ''}</SourceLineNumber>\n"
        f"      <PreContext>{esc(chr(10).join(e.pre_context))}</PreContext>\n"
        f"      <PostContext>{esc(chr(10).join(e.post_context))}</PostContext>\n    </{tag}>\n"
    )


def write_cdash(
    folder: Path, command: str, packages: list[dict], *, start: int = 1796248166
) -> None:
    """Write a CDash report directory as Spack 0.22.1's reporter does: ``packages`` are
    dicts with ``name``, ``stdout`` and ``result`` (``success``/``failure``)."""
    folder.mkdir(parents=True, exist_ok=True)
    multiple = len(packages) > 1
    for package in packages:
        name = package["name"]
        build_name = f"{command} - {name}" if multiple else command
        logs: dict[str, list[str]] = {"configure": [], "build": []}
        seen = ["update"]
        step = ""
        for line in package["stdout"].splitlines():
            if "Executing phase: '" in line:
                phase = line.split("Executing phase: '", 1)[1].split("'", 1)[0]
                if phase not in CDASH_STEP:
                    step = ""
                    continue
                step = CDASH_STEP[phase]
                if step not in seen:
                    seen.append(step)
                logs[step].append(f"{step} output for {name}:")
            elif step:
                logs[step].append(xml.sax.saxutils.escape(line))
        site = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Site BuildName="{build_name}"\n      BuildStamp="20261202-2149-Experimental"\n'
            f'      Name="vm"\n      Generator="{GENERATOR}"\n      Hostname=""\n'
            '      OSName="Linux"\n      OSRelease="6.18.44-fc-v1045"\n      VendorString="zen3"\n>'
        )
        prefix = f"{name}_" if multiple else ""
        end = start + 1
        for step_name in seen:
            if step_name == "build":
                errors, warnings = _events(logs["build"], package["result"] == "success")
                body = f"  <Build>\n    <StartBuildTime>{start}</StartBuildTime>\n    <BuildCommand>{command}</BuildCommand>\n"
                body += "".join(_entry("Warning", w) for w in warnings)
                body += "".join(_entry("Error", e) for e in errors)
                body += f"    <EndBuildTime>{end}</EndBuildTime>\n    <ElapsedMinutes>0</ElapsedMinutes>\n  </Build>\n</Site>"
                (folder / f"{prefix}Build.xml").write_text(site + body, encoding="utf-8")
            elif step_name == "configure":
                errors, _ = _events(logs["configure"], False)
                status = 1 if errors else 0
                body = (
                    f"  <Configure>\n    <StartConfigureTime>{start}</StartConfigureTime>\n"
                    f"    <ConfigureCommand>{command}</ConfigureCommand>\n    <Log>{chr(10).join(logs['configure'])}</Log>\n"
                    f"    <ConfigureStatus>{status}</ConfigureStatus>\n    <EndConfigureTime>{end}</EndConfigureTime>\n  </Configure>\n</Site>"
                )
                (folder / f"{prefix}Configure.xml").write_text(site + body, encoding="utf-8")
            else:
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<Update>\n  <Site>vm</Site>\n'
                    f"  <BuildName>{build_name}</BuildName>\n  <BuildStamp>20261202-2149-Experimental</BuildStamp>\n"
                    f"  <StartTime>{start}</StartTime>\n  <UpdateCommand></UpdateCommand>\n  <UpdateType>GIT</UpdateType>\n"
                    f"  <Revision>{COMMIT}</Revision>\n  <EndTime>{end}</EndTime>\n</Update>"
                )
                (folder / f"{prefix}Update.xml").write_text(body, encoding="utf-8")


def junit_log(package: str) -> str:
    """The ``<system-out>`` of ``package`` in the real JUnit report."""
    import xml.etree.ElementTree as ET

    root = ET.parse(JUNIT).getroot()
    for case in root.iter("testcase"):
        if case.get("classname") == package:
            text = case.findtext("system-out") or ""
            return text[1:].rstrip(" ").rstrip("\n")
    raise KeyError(package)


def write_all(target: Path = DERIVED) -> None:
    import shutil

    target.mkdir(parents=True, exist_ok=True)
    (target / "tinybrokenapp-spack-0.22.1-zen3.json").write_text(
        json.dumps(derived_spec()), encoding="utf-8"
    )
    broken = {"name": "tinybroken", "stdout": junit_log("tinybroken"), "result": "failure"}
    for sub in ("cdash-failure-tinybrokenapp", "cdash-single-tinybroken"):
        shutil.rmtree(target / sub, ignore_errors=True)
    # the failure run built only tinybroken (its dependencies were installed): Spack writes
    # the single-package form then; the multiple form is the same files with a prefix
    write_cdash(target / "cdash-single-tinybroken", "tinybrokenapp", [broken])
    # with gcc-runtime rebuilt in the same run (two packages), the files carry the prefix
    runtime = {
        "name": "gcc-runtime",
        "stdout": "==> gcc-runtime: Executing phase: 'install'\n",
        "result": "success",
    }
    write_cdash(target / "cdash-failure-tinybrokenapp", "tinybrokenapp", [runtime, broken])


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else DERIVED)
