"""Server rows (the data API's ``specs``, ``dependencies``, ``builds``, ``buildphases``,
``builderrors``, ``buildwarnings``) -> frames, for :meth:`MonitorData.from_client`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, MonitorError
from ..logs import LogEvent, fingerprint
from ..spackfacts import order_phases, phase_timing
from .assemble import Assembler, FrameSet


def client_frames(client: Any, *, keep_output: bool = True, progress: bool = False) -> FrameSet:
    """Everything a server holds, pulled through ``client`` (a
    :class:`~spackmon_analysis.client.SpackMonitorClient`; data API routes specs,
    dependencies, builds, buildphases, builderrors, buildwarnings), as a frame set (see
    :meth:`~spackmon_analysis.frames.MonitorData.from_client`)."""

    def pull(route: str, **filters: Any) -> list[dict[str, Any]]:
        return list(client.pull(route, progress=progress, **filters))

    # list pages leave phase outputs out unless asked (the server bounds each page in bytes)
    phase_filters = {"output": bool(keep_output)}
    rows = {
        "specs": pull("specs"),
        "dependencies": pull("dependencies"),
        "builds": pull("builds"),
        "buildphases": pull("buildphases", **phase_filters),
        "builderrors": pull("builderrors"),
        "buildwarnings": pull("buildwarnings"),
    }
    label = getattr(client, "baseurl", None) or getattr(client, "host", "") or "server"
    return rows_frames(rows, source="server", label=str(label), keep_output=keep_output)


def _need(row: Any, name: str, route: str, error: type[Exception]) -> Any:
    if not isinstance(row, Mapping):
        raise _make_error(error, f"{route}: expected a JSON object per row, got {row!r:.80}")
    if name not in row:
        ident = row.get("id", "?")
        raise _make_error(error, f"{route} row id={ident}: missing field {name!r}")
    return row[name]


def _make_error(error: type[Exception], message: str) -> Exception:
    return error(message)


def empty_to_none(value: Any) -> Any:
    return None if value == "" else value


def rows_frames(
    rows: Mapping[str, list[dict[str, Any]]], *, source: str, label: str, keep_output: bool
) -> FrameSet:
    error: type[Exception] = MonitorError if source == "server" else ConfigError
    asm = Assembler(keep_output=keep_output, rules=None, parse_events=False)

    for row in rows["specs"]:
        add_server_spec(
            asm,
            _need(row, "full_hash", "specs", error),
            _need(row, "name", "specs", error),
            row.get("version"),
            row.get("compiler_name"),
            row.get("compiler_version"),
            row.get("platform"),
            row.get("os"),
            row.get("target"),
            row.get("namespace"),
            row.get("external"),
            row.get("hash"),
            row.get("build_hash"),
            row.get("dag_hash"),
        )
    for row in rows["dependencies"]:
        parent = _need(row, "spec_full_hash", "dependencies", error)
        child = _need(row, "dependency_full_hash", "dependencies", error)
        if (parent, child) not in asm.edges:
            deptypes = row.get("deptypes") or []
            asm.edges[(parent, child)] = (
                parent,
                child,
                row.get("spec_name"),
                row.get("dependency_name"),
                ",".join(sorted(str(d) for d in deptypes)),
            )

    # events per phase id, in stored order
    events_of: dict[Any, list[LogEvent]] = {}
    for route in ("builderrors", "buildwarnings"):
        for row in rows[route]:
            phase_id = _need(row, "phase", route, error)
            text = _need(row, "text", route, error)
            classes = tuple(row.get("classes") or ())
            event = LogEvent(
                kind=_need(row, "kind", route, error),
                text=text,
                line_no=row.get("line_no"),
                source_file=row.get("source_file"),
                source_line_no=row.get("source_line_no"),
                pre_context=list(row.get("pre_context") or []),
                post_context=list(row.get("post_context") or []),
                repeat_count=row.get("repeat_count") or 1,
                classes=classes,
                fingerprint=fingerprint(text),
            )
            events_of.setdefault(phase_id, []).append(event)

    phases_of: dict[Any, list[dict[str, Any]]] = {}
    for row in rows["buildphases"]:
        build_id = _need(row, "build", "buildphases", error)
        name = _need(row, "name", "buildphases", error)
        phase_id = _need(row, "id", "buildphases", error)
        output = row.get("output")
        timing = phase_timing(output)
        events = sorted(events_of.get(phase_id, []), key=lambda e: e.line_no or 0)
        phase = {
            "name": name,
            "status": row.get("status"),
            "output": output,
            "output_size": row.get("output_size"),
            "duration": timing.duration,
            "started_at": timing.started,
            "finished_at": timing.finished,
            "phase_id": phase_id,
            "events": events,
        }
        phases_of.setdefault(build_id, []).append(phase)

    for row in rows["builds"]:
        build_id = _need(row, "id", "builds", error)
        full_hash = asm.resolve(_need(row, "full_hash", "builds", error))
        phases = order_phases(
            phases_of.get(build_id, []), name=lambda p: p["name"], started=lambda p: p["started_at"]
        )
        for index, phase in enumerate(phases):
            phase["order"] = index
        created = row.get("created_at")
        asm.add_build(
            key=str(build_id),
            build_id=build_id,
            run=None,
            run_time=created,
            full_hash=full_hash,
            spec_name=row.get("spec_name"),
            spec_version=empty_to_none(row.get("spec_version")),
            status=row.get("status"),
            env=row,
            tags=[str(t) for t in (row.get("tags") or [])],
            owner=row.get("owner"),
            created_at=created,
            source=source,
            phases=phases,
        )
    return asm.result(label)


def add_server_spec(
    asm: Assembler,
    key: str,
    name: str,
    version: str | None,
    compiler_name: str | None,
    compiler_version: str | None,
    platform: str | None,
    os_name: str | None,
    target: str | None,
    namespace: str | None,
    external: Any,
    dag: str | None,
    build_hash: str | None,
    dag_hash: str | None,
) -> None:
    """One server ``specs`` row into ``asm`` (data API rows and database rows alike)."""
    compiler = None
    if compiler_name:
        compiler = f"{compiler_name}@{compiler_version}" if compiler_version else compiler_name
    hashes = (dag, build_hash, dag_hash, key)
    if not dag and dag_hash and dag_hash != key:
        dag = dag_hash
    spec_row = (
        key,
        name,
        empty_to_none(version),
        compiler,
        compiler_name,
        compiler_version,
        platform,
        os_name,
        target,
        namespace,
        bool(external),
        dag,
        build_hash,
    )
    asm.add_spec_row(key, spec_row, hashes)
