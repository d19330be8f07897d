"""Spack install prefixes and failed builds' stage directories -> records.

An install prefix (``<root>/<arch>/<compiler>/<name>-<version>-<hash>/``) keeps its
build's metadata in ``.spack/`` (PROTOCOL section 7): ``spec.json`` (``spec.yaml``
before 0.17), ``spack-build-out.txt`` and per-phase ``spack-build-NN-<phase>-out.txt``
(gzipped in 0.22+), ``spack-build-env.txt``, ``spack-configure-args.txt``,
``install_manifest.json``, ``install_environment.json`` and ``install_times.json``.
A failed build has no prefix: its logs stay in the stage directory
``spack-stage-<name>-<version>-<hash>/``, which has no spec file.

:func:`read_install_prefix` turns either into an :class:`InstallRecord` (a
:class:`~spackmon_analysis.records.BuildRecord`, its
:class:`~spackmon_analysis.records.PhaseRecord` list, the spec graph when there is
one); :func:`find_install_prefixes` walks a tree for them.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InstallPrefixError, SpackmonError, SpecFormatError
from ..localfiles import UnsafeFileError, read_local
from ..logs import Rules
from ..records import BuildRecord, PhaseRecord
from ..spackfacts import (
    PHASE_SUCCESS_MARKER,
    SPLICED_TAG,
    PhaseDurations,
    phase_durations,
    phase_timing,
    short_hash,
    short_spec_compiler,
    specfile_format_note,
    split_phases,
)
from .assemble import Assembler, FrameSet, object_column, phase_dict, resolve_rules
from .environment import read_json_file

__all__ = [
    "InstallRecord",
    "read_install_prefix",
    "find_install_prefixes",
    "parse_build_env",
    "install_tree_frames",
    "prefixes_frames",
]

_HASH = r"[a-z2-7]{32}"
_STAGE_NAME = re.compile(rf"^spack-stage-(?P<name>.+)-(?P<version>[^-]+)-(?P<hash>{_HASH})$")
_PREFIX_NAME = re.compile(rf"^(?P<name>.+)-(?P<version>[^-]+)-(?P<hash>{_HASH})$")
_PHASE_FILE = re.compile(r"^spack-build-(?P<nn>\d+)-(?P<phase>.+)-out\.txt(?P<gz>\.gz)?$")
_SHORT_SPEC = re.compile(r"^(?P<name>[^@%\s]+)@(?P<version>[^%\s+~^]+)")
_ARCH = re.compile(r"arch=(?P<platform>[^-\s/]+)-(?P<os>[^-\s/]+)-(?P<target>[^\s/]+)")
_SPEC_FILES = ("spec.json", "spec.yaml")
#: What ``spack install --test`` keeps of its tests, in the stage and the prefix's ``.spack/``.
_TEST_LOG = "install-time-test-log.txt"


@dataclass
class InstallRecord:
    """What an install prefix or a stage directory says about one build.

    ``kind`` is ``"prefix"`` or ``"stage"``; ``path`` is the prefix (or stage)
    directory; ``metadata_dir`` the folder holding the logs (``<prefix>/.spack``
    or the stage directory itself); ``spec`` the spec graph (None for a stage
    directory, which has no spec file); ``install_times`` the parsed
    ``install_times.json`` (empty when absent); ``original_prefix`` the absolute
    prefix Spack installed to, as its ``install_manifest.json`` records it (None
    without a manifest) -- ``build.install_files`` is keyed relative to it;
    ``skipped`` the files left out by the upload rules (symlinks out of the prefix,
    oversized files), as ``(path, reason)``.
    """

    path: Path
    kind: str
    metadata_dir: Path
    build: BuildRecord
    phases: list[PhaseRecord] = field(default_factory=list)
    spec: Any = None
    install_times: dict[str, Any] = field(default_factory=dict)
    original_prefix: str | None = None
    phase_times: PhaseDurations = field(default_factory=PhaseDurations)
    notes: list[str] = field(default_factory=list)
    #: ``(path, reason)`` of each file left out because the upload rules of
    #: :mod:`~spackmon_analysis.localfiles` refuse it (a symbolic link out of the
    #: prefix, a file over the size cap); the build is read without it.
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def install_files_absolute(self) -> dict[str, dict[str, Any]]:
        """``build.install_files`` keyed by absolute paths again, as Spack wrote them.

        This is the form a monitor server's ``analyze/builds/`` expects (it makes
        the paths relative itself); relative keys stay as they are when the
        original prefix is unknown.
        """
        base = self.original_prefix
        if not base:
            return {k: dict(v) for k, v in self.build.install_files.items()}
        return {
            (base if k == "." else f"{base}/{k}"): dict(v)
            for k, v in self.build.install_files.items()
        }

    def events(self, *, context: int = 6) -> dict[str, list]:
        """The error/warning events of each phase's output (phase name -> events).

        Line numbers count in the phase's output; for a phase cut out of the combined
        ``spack-build-out.txt``, add ``phase.first_line - 1`` for the line in that file."""
        from ..logs import parse_log

        return {p.name: parse_log(p.output or "", context=context) for p in self.phases}

    def __repr__(self) -> str:
        b = self.build
        return (
            f"InstallRecord({self.kind} {b.spec_name}@{b.spec_version}/{short_hash(b.key)} "
            f"status={b.status} phases={[p.name for p in self.phases]})"
        )


def parse_build_env(text: str) -> dict[str, str]:
    """Variables of a ``spack-build-env.txt`` file (both styles Spack writes).

    Handles ``export NAME=value;`` lines (``unset NAME;`` lines are skipped) and
    ``NAME=value; export NAME`` lines, with single- or double-quoted values
    (``NAME='a b'``, ``NAME="x"'"'"y"``) as a POSIX shell reads them. Bash
    function definitions (``BASH_FUNC_x%%=() {  ...``) keep their raw text.
    """
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("unset "):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*(?:%%)?)=(.*)$", line)
        if not m:
            continue
        name, rest = m.group(1), m.group(2)
        # drop a trailing "; export NAME" or ";"
        rest = re.sub(r";\s*export\s+" + re.escape(name) + r"\s*$", "", rest)
        rest = re.sub(r";\s*$", "", rest)
        try:
            parts = shlex.split(rest, posix=True)
        except ValueError:
            out[name] = rest
            continue
        if len(parts) == 1:
            out[name] = parts[0]
        elif not parts:
            out[name] = ""
        else:
            out[name] = rest
    return out


def _read_text(path: Path, within: Path | None = None) -> str:
    """A metadata file's text (gunzipped for ``.gz``) under the upload rules of
    :mod:`~spackmon_analysis.localfiles`; :class:`UnsafeFileError` when they refuse it."""
    try:
        data = read_local(path, within, decompress=path.suffix == ".gz")
    except UnsafeFileError:
        raise
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InstallPrefixError(f"cannot read ({exc})", path=str(path)) from exc
    return data.decode("utf-8", errors="replace")


def _read_json(path: Path, within: Path | None = None) -> Any:
    text = _read_text(path, within)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InstallPrefixError(f"not valid JSON ({exc})", path=str(path)) from exc


_ABSENT = object()


class _Reader:
    """Reads one prefix's (or stage directory's) files; a file the upload rules refuse
    (a symbolic link out of ``root``, over a size cap) is treated as absent and named in
    ``skipped`` as ``(path, reason)``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.skipped: list[tuple[str, str]] = []

    def text(self, path: Path | None, within: Path | None = None) -> str | None:
        """``within``: the folder the file must stay inside (default: ``root``)."""
        if path is None:
            return None
        try:
            return _read_text(path, within or self.root)
        except UnsafeFileError as exc:
            self.skipped.append((str(path), f"skipped: {exc.reason}"))
            return None

    def json(self, path: Path | None, default: Any = None) -> Any:
        """The parsed file, or ``default`` when it is absent or skipped."""
        text = self.text(path)
        if text is None:
            return default
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InstallPrefixError(f"not valid JSON ({exc})", path=str(path)) from exc


def _find(folder: Path, name: str) -> Path | None:
    """``name`` or ``name.gz`` inside ``folder``."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _locate(path: Path) -> tuple[Path, Path, str]:
    """(prefix-or-stage dir, metadata dir, kind) for any accepted starting path."""
    if not path.exists():
        raise InstallPrefixError("no such file or directory", path=str(path))
    if path.is_file():
        path = path.parent
    if path.name == ".spack":
        return path.parent, path, "prefix"
    if (path / ".spack").is_dir():
        return path, path / ".spack", "prefix"
    if _STAGE_NAME.match(path.name) or (
        any(path.glob("spack-build-*out.txt*"))
        and not any((path / n).exists() for n in _SPEC_FILES)
    ):
        return path, path, "stage"
    if any((path / n).exists() for n in _SPEC_FILES):  # a bare metadata folder
        return path.parent, path, "prefix"
    raise InstallPrefixError(
        "not an install prefix (no .spack/ folder), a .spack folder or a spack-stage directory",
        path=str(path),
    )


def _relative_manifest(
    manifest: Any, prefix_name: str, source: Path
) -> tuple[dict[str, dict], str | None]:
    if not isinstance(manifest, dict):
        raise InstallPrefixError("the manifest must be a JSON object", path=str(source))
    keys = [k for k in manifest if isinstance(k, str)]
    original = None
    for k in keys:
        if k.endswith("/.spack"):
            original = k[: -len("/.spack")]
            break
    if original is None:
        for k in keys:
            marker = f"/{prefix_name}/"
            if marker in k:
                original = k[: k.index(marker) + len(marker) - 1]
                break
    if original is None and keys:
        original = os.path.commonpath(keys) if len(keys) > 1 else os.path.dirname(keys[0])
    out: dict[str, dict] = {}
    for key, value in manifest.items():
        if not isinstance(value, dict):
            raise InstallPrefixError(f"manifest entry {key!r} is not an object", path=str(source))
        rel = key
        if original and (key == original or key.startswith(original + "/")):
            rel = os.path.relpath(key, original)
        out[rel] = dict(value)
    return out, original


#: The build log of Spack 1.1's experimental installer (``config:installer:new``,
#: ``new_installer.py`` ``start_build``): a file beside the stage directory in the stage root,
#: ``<stage directory name>-<random>.log``, to which the stage's ``spack-build-out.txt`` is a
#: symbolic link.
_NEW_INSTALLER_LOG = re.compile(r"^(?P<stage>spack-stage-.+)-[A-Za-z0-9_]+\.log$")


def _combined_log_folder(combined: Path, root: Path) -> Path | None:
    """The folder the stage's combined log may be read from when it is the experimental
    installer's symbolic link to its log in the stage root (that root); None otherwise
    (the log must then stay inside the stage directory, the local-file rule)."""
    if not combined.is_symlink():
        return None
    target = combined.resolve()
    match = _NEW_INSTALLER_LOG.match(target.name)
    if match and match.group("stage") == root.name and target.parent == root.resolve().parent:
        return root.parent
    return None


def _phase_files(folder: Path) -> list[tuple[int, str, Path]]:
    found: dict[tuple[int, str], Path] = {}
    for entry in folder.iterdir():
        m = _PHASE_FILE.match(entry.name)
        if m and entry.is_file():
            key = (int(m.group("nn")), m.group("phase"))
            # a plain file wins over its .gz twin
            if key not in found or not m.group("gz"):
                found[key] = entry
    return [(nn, phase, p) for (nn, phase), p in sorted(found.items())]


def read_install_prefix(path: str | os.PathLike[str]) -> InstallRecord:
    """Read a Spack install prefix, its ``.spack/`` folder, or a failed build's stage dir.

    The build's key is the DAG hash (from the directory name, else the spec), its
    ``full_hash`` the spec's ``full_hash`` (the DAG hash when the spec has none or
    there is no spec); status ``SUCCESS`` for an install prefix, ``FAILED`` for a
    stage directory whose log shows an error. Phases come from
    ``spack-build-NN-<phase>-out.txt`` (or ``.txt.gz``) in ``NN`` order, with the
    duration of ``install_times.json`` and start/end from the output's timestamps.
    Raises :class:`~spackmon_analysis.errors.InstallPrefixError` naming the path.
    """
    start = Path(path)
    root, meta, kind = _locate(start)

    # the spec (prefixes only)
    spec = None
    spec_file = None
    for spec_name in _SPEC_FILES:
        spec_file = _find(meta, spec_name)
        if spec_file:
            break
    if kind == "prefix" and spec_file is None:
        raise InstallPrefixError("no spec.json or spec.yaml in the metadata folder", path=str(meta))
    files = _Reader(root)
    if spec_file is not None:
        from ..spec import load_spec

        try:
            data = read_local(spec_file, root)
            spec = load_spec(data, name=str(spec_file))
        except UnsafeFileError as exc:
            raise InstallPrefixError(
                f"spec file not read: {exc.reason}", path=str(spec_file)
            ) from None
        except OSError as exc:
            raise InstallPrefixError(f"unreadable spec ({exc})", path=str(spec_file)) from exc
        except SpackmonError as exc:
            raise InstallPrefixError(f"unreadable spec ({exc})", path=str(spec_file)) from exc
    newer_spec = (
        specfile_format_note(spec.format, spec_file.name)
        if spec is not None and spec_file is not None
        else None
    )

    # names, version and hashes
    dir_match = (_STAGE_NAME if kind == "stage" else _PREFIX_NAME).match(root.name)
    env_file = _find(meta, "spack-build-env.txt")
    env_text = files.text(env_file)
    env_vars = parse_build_env(env_text) if env_text is not None else {}
    short = env_vars.get("SPACK_SHORT_SPEC", "")
    short_m = _SHORT_SPEC.match(short)

    name = version = dag = full = None
    platform = host_os = target = None
    if spec is not None:
        node = spec.root
        name, version = node.name, node.version
        dag, full = node.dag_hash, node.full_hash
        platform, host_os, target = node.platform, node.os, node.target
    if short_m:
        name = name or short_m.group("name")
        version = version or short_m.group("version")
    arch_m = _ARCH.search(short)
    if arch_m:
        platform = platform or arch_m.group("platform")
        host_os = host_os or arch_m.group("os")
        target = target or arch_m.group("target")
    if dir_match:
        dag = dir_match.group("hash") if kind == "stage" or dag is None else dag
        name = name or dir_match.group("name")
        version = version or dir_match.group("version")
    if dag is None:
        raise InstallPrefixError(
            "cannot tell the build's hash (no spec file and no <name>-<version>-<hash> name)",
            path=str(root),
        )
    full = full or dag

    # install_environment.json / install_times.json
    env: dict[str, Any] = {}
    env_json = _find(meta, "install_environment.json")
    if env_json:
        env = files.json(env_json, {})
        if not isinstance(env, dict):
            raise InstallPrefixError("must be a JSON object", path=str(env_json))
    times: dict[str, Any] = {}
    times_file = _find(meta, "install_times.json")
    if times_file:
        times = files.json(times_file, {})
        if not isinstance(times, dict):
            raise InstallPrefixError("must be a JSON object", path=str(times_file))
    # configure args and manifest
    config_args = None
    cfg = _find(meta, "spack-configure-args.txt")
    cfg_text = files.text(cfg)
    if cfg_text is not None:
        config_args = cfg_text.strip()
    install_files: dict[str, dict] = {}
    original_prefix = None
    manifest = _find(meta, "install_manifest.json")
    manifest_doc = files.json(manifest, _ABSENT)
    if manifest is not None and manifest_doc is not _ABSENT:
        install_files, original_prefix = _relative_manifest(manifest_doc, root.name, manifest)

    # phases: the per-phase logs, else the combined log cut on the phase markers
    from ..logs import parse_log

    notes: list[str] = [newer_spec] if newer_spec else []
    # a spliced spec's prefix (Spack 0.23+): a rewiring of its build spec's installed build,
    # copied with that build's logs and timers (rewiring.rewire_node): not a build of its own
    spliced_from = spec.root.build_spec if kind == "prefix" and spec is not None else None
    if spliced_from:
        notes.append(
            f"spliced: {name} /{short_hash(dag)} was built as /{short_hash(spliced_from)} "
            "(its spec.json's build_spec) and rewired, never built itself: the build log and "
            f"install_times.json in {meta.name} are that build's (copied by the rewiring), "
            "not read as phases of this spec"
        )
        times = {}
    # (order, phase, text, source file, first line in that file)
    outputs: list[tuple[int, str, str, str, int | None]] = []
    for nn, phase, p in _phase_files(meta) if not spliced_from else ():
        text = files.text(p)  # None: refused by the upload rules (named in files.skipped)
        if text is not None:
            outputs.append((nn - 1 if nn > 0 else nn, phase, text, p.name, None))
    if not outputs and not spliced_from:
        combined = _find(meta, "spack-build-out.txt")
        log_folder = _combined_log_folder(combined, root) if kind == "stage" and combined else None
        combined_text = files.text(combined, log_folder)
        if log_folder is not None and combined is not None and combined_text is not None:
            notes.append(
                f"{combined.name}: read from {combined.resolve().name} in the stage root "
                "(the log of Spack 1.1's experimental installer)"
            )
        if combined is None:
            notes.append(f"no build log in {meta.name} (no spack-build-*out.txt): no phases")
        elif combined_text is None:
            pass  # refused by the upload rules: named in files.skipped
        else:
            preamble, cut = split_phases(combined_text)
            if cut and preamble.strip():
                notes.append(
                    f"{combined.name}: {len(preamble.splitlines())} line(s) before the first "
                    "phase marker belong to no phase (not searched for errors; line numbers "
                    "still count them)"
                )
            if not cut:
                notes.append(
                    f"{combined.name} has no \"==> <package>: Executing phase: '<name>'\" "
                    "lines: no phases read from it"
                )
            outputs = [
                (i, lp.name, lp.text, combined.name, lp.first_line) for i, lp in enumerate(cut)
            ]
    test_log = _find(meta, _TEST_LOG)
    if test_log is not None:
        notes.append(
            f"{test_log.name}: the log of the install-time tests (spack install --test); not "
            "read (their output is in the phase logs too)"
        )
    spack_version = env.get("spack_version") or (spec.spack_version if spec is not None else None)
    attributed = phase_durations(times, spack_version, [phase for _, phase, _, _, _ in outputs])
    if times and attributed.note:
        notes.append(attributed.note)
    phases: list[PhaseRecord] = []
    any_marker = any(PHASE_SUCCESS_MARKER.search(text) for _, _, text, _, _ in outputs)
    has_errors = [
        kind == "stage"
        and any(e.kind == "error" for e in parse_log(text, context=0, classify=False))
        for _, _, text, _, _ in outputs
    ]
    for i, (order, phase, text, source, first_line) in enumerate(outputs):
        timing = phase_timing(text)
        if kind == "prefix":
            status = "SUCCESS"
        elif any_marker:
            ok = PHASE_SUCCESS_MARKER.search(text) is not None
            status = (
                "SUCCESS"
                if ok
                else ("ERROR" if has_errors[i] or i == len(outputs) - 1 else "SUCCESS")
            )
        else:
            last = i == len(outputs) - 1
            status = "ERROR" if has_errors[i] or (last and not any(has_errors)) else "SUCCESS"
        phases.append(
            PhaseRecord(
                build_key=dag,
                name=phase,
                status=status,
                output=text,
                order=order,
                duration=attributed.durations.get(phase),
                started_at=timing.started,
                finished_at=timing.finished,
                source=source,
                first_line=first_line,
            )
        )
    build_status: str | None
    if kind == "prefix":
        build_status = "SUCCESS"
    elif any(p.status == "ERROR" for p in phases):
        build_status = "FAILED"
    elif phases and any_marker:
        build_status = "SUCCESS"
    else:
        build_status = None

    build = BuildRecord(
        key=dag,
        full_hash=full,
        spec_name=name,
        spec_version=version,
        status=build_status,
        host_os=env.get("host_os") or host_os,
        platform=env.get("platform") or platform,
        host_target=env.get("host_target") or target,
        hostname=env.get("hostname"),
        kernel_version=env.get("kernel_version"),
        spack_version=spack_version,
        source=str(root),
        environment_variables=env_vars,
        config_args=config_args,
        install_files=install_files,
        tags=(SPLICED_TAG,) if spliced_from else (),
    )
    return InstallRecord(
        path=root,
        kind=kind,
        metadata_dir=meta,
        build=build,
        phases=phases,
        spec=spec,
        install_times=times,
        original_prefix=original_prefix,
        phase_times=attributed,
        notes=notes,
        skipped=files.skipped,
    )


def is_build_directory(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an install prefix (``.spack/spec.json`` or ``spec.yaml``) or a
    ``spack-stage-<name>-<version>-<hash>`` directory holding build logs."""
    here = Path(path)
    meta = here / ".spack"
    if meta.is_dir() and any(_find(meta, n) for n in _SPEC_FILES):
        return True
    return bool(_STAGE_NAME.match(here.name)) and any(here.glob("spack-build-*out.txt*"))


def build_directory_hash(path: str | os.PathLike[str]) -> str | None:
    """The DAG hash in an install prefix's or stage directory's name (None if none)."""
    name = Path(path).name
    match = _STAGE_NAME.match(name) or _PREFIX_NAME.match(name)
    return match.group("hash") if match else None


def find_install_prefixes(root: str | os.PathLike[str]) -> list[Path]:
    """Install prefixes and stage directories under ``root`` (sorted).

    A prefix is a directory with ``.spack/spec.json`` (or ``spec.yaml``, gzipped or
    not); a stage directory is named ``spack-stage-<name>-<version>-<hash>`` and
    holds ``spack-build-*out.txt`` logs. The walk does not descend into prefixes.
    """
    base = Path(root)
    if not base.is_dir():
        raise InstallPrefixError("not a directory", path=str(base))
    found: list[Path] = []
    for dirpath, dirnames, _files in os.walk(base):
        here = Path(dirpath)
        if is_build_directory(here):
            found.append(here)
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if d != ".spack")
    return sorted(found)


# ---------------------------------------------------------------------------------
# install trees -> frames


def _installation_times(root: Path) -> tuple[dict[str, datetime], list[tuple[str, str]]]:
    """DAG hash -> installation time from the tree's ``.spack-db/index.json`` (in ``root`` or
    up to three folders above it, where Spack keeps it beside ``opt/spack``), and notes.

    The index is read as the install database loader reads it
    (:func:`~spackmon_analysis.loaders.environment.read_json_file`: a regular file, size cap,
    no symbolic link out of ``.spack-db``); one that cannot be used is named in the notes and
    the builds keep the times of their phase logs.
    """
    for base in (root, *root.parents[:3]):
        index = base / ".spack-db" / "index.json"
        if not index.is_file():
            continue
        fallback = "install times taken from the phase logs instead"
        try:
            installs = read_json_file(index, index.parent)["database"]["installs"]
        except (UnsafeFileError, SpecFormatError) as exc:
            return {}, [(str(index), f"{exc.reason}; not read, {fallback}")]
        except (KeyError, TypeError):
            return {}, [(str(index), f"no database.installs in the index; {fallback}")]
        out = {}
        if isinstance(installs, dict):
            for key, entry in installs.items():
                stamp = entry.get("installation_time") if isinstance(entry, dict) else None
                if isinstance(stamp, int | float):
                    out[key] = datetime.fromtimestamp(stamp, tz=timezone.utc)
        return out, []
    return {}, []


def install_tree_frames(
    path: str | os.PathLike[str],
    *,
    keep_output: bool = True,
    rules: Rules | str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> FrameSet:
    """An install tree, prefix, ``.spack`` folder, stage directory or a folder of those as a
    :class:`~spackmon_analysis.loaders.assemble.FrameSet` (what
    :func:`~spackmon_analysis.frames.load_install_tree` documents and returns as
    ``MonitorData``).

    Raises:
        InstallPrefixError: the path does not exist or holds no prefix/stage directory.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise InstallPrefixError("no such file or directory", path=str(root))
    prefixes = find_install_prefixes(root) if root.is_dir() else []
    return prefixes_frames(root, prefixes, keep_output=keep_output, rules=rules, strict=strict)


def prefixes_frames(
    root: Path,
    prefixes: list[Path],
    *,
    keep_output: bool = True,
    rules: Rules | str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> FrameSet:
    """:func:`install_tree_frames` of ``root`` once its prefixes and stage directories are
    found (``[]``: ``root`` itself is one)."""
    active_rules = resolve_rules(rules)
    records = []
    problems: list[tuple[str, str]] = []
    if not prefixes:
        try:
            records.append(read_install_prefix(root))
        except InstallPrefixError as exc:
            raise InstallPrefixError(
                "no install prefixes (<prefix>/.spack/spec.json) or spack-stage-* "
                f"directories found ({exc})",
                path=str(root),
            ) from None
    for prefix in prefixes:
        try:
            records.append(read_install_prefix(prefix))
        except SpackmonError as exc:
            if strict:
                raise
            problems.append((str(prefix), str(exc)))
    # prefixes before stage directories: a stage directory of a hash that is installed is
    # an earlier failed attempt the install superseded (the prefix is the current state)
    records.sort(key=lambda r: (r.kind != "prefix", str(r.path)))
    installed = {r.build.key for r in records if r.kind == "prefix"}
    notes = [
        (
            str(r.path),
            f"stage directory of {r.build.spec_name} {r.build.key}: superseded by its install",
        )
        for r in records
        if r.kind != "prefix" and r.build.key in installed
    ]
    records = [r for r in records if r.kind == "prefix" or r.build.key not in installed]
    notes += [(str(r.path), message) for r in records for message in r.notes]
    # files the upload rules left out (symlinks out of the prefix, oversized files)
    notes += [item for r in records for item in r.skipped]
    times, index_notes = _installation_times(root if root.is_dir() else root.parent)
    notes += index_notes
    asm = Assembler(keep_output=keep_output, rules=active_rules)
    asm.problems.extend(problems)
    for record in records:
        if record.spec is not None:
            asm.add_graph(record.spec)
    for record in records:
        build = record.build
        starts = [p.started_at for p in record.phases if p.started_at is not None]
        created = times.get(build.key) or (min(starts) if starts else None)
        full_hash = asm.resolve(build.full_hash)
        # the compiler of a stage directory's build (no spec file there; a prefix's spec
        # names it and wins in the frame): SPACK_SHORT_SPEC in its spack-build-env.txt
        asm.add_build(
            compiler=short_spec_compiler(build.environment_variables.get("SPACK_SHORT_SPEC")),
            key=build.key,
            dag_hash=build.key,
            build_id=None,
            run=None,
            run_time=created,
            full_hash=full_hash,
            spec_name=build.spec_name,
            spec_version=build.spec_version,
            status=build.status,
            env=build.environment(),
            tags=build.tags,
            owner=None,
            created_at=created,
            source="install",
            phases=[phase_dict(p) for p in sorted(record.phases, key=lambda p: p.order or 0)],
        )
    result = asm.result(str(root), notes=notes)
    _add_build_files(result, records)
    return result


def _archived_files(meta: Path) -> list[str] | None:
    """The files of ``<meta>/archived-files`` (``package.archive_files``: copied from the
    stage after the install), relative to that folder, sorted; None without the folder."""
    folder = meta / "archived-files"
    if not folder.is_dir():
        return None
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink()
    )


def _add_build_files(result: FrameSet, records: list[InstallRecord]) -> None:
    """The ``builds`` columns of a prefix's or stage directory's other files (decisions in
    ``docs/install-trees.md``): ``configure_args`` (``spack-configure-args.txt``, stripped),
    ``build_env`` (``spack-build-env.txt`` as ``{name: value}``) and ``archived_files`` (the
    paths under ``archived-files/``); ``None`` when the build has no such file."""
    builds = result.builds
    if builds is None or not len(builds):
        return
    by_key = {r.build.key: r for r in records}
    rows = [by_key.get(str(key)) for key in builds["build"].astype(object)]
    builds["configure_args"] = object_column([r.build.config_args if r else None for r in rows])
    builds["build_env"] = object_column(
        [
            dict(r.build.environment_variables) if r and r.build.environment_variables else None
            for r in rows
        ]
    )
    builds["archived_files"] = object_column(
        [_archived_files(r.metadata_dir) if r else None for r in rows]
    )
