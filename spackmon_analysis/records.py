"""Record types that every source produces and every frame consumes.

Data flows one way: sources (server, save-local directory, install prefix, database)
-> these records -> pandas frames / networkx graphs -> analysis -> views. Because
all sources emit the same records, an analysis written once works offline and online.

Status vocabulary (as Spack writes it): build status ``SUCCESS``, ``FAILED``,
``NOTRUN``, ``CANCELLED``; phase status ``SUCCESS`` or ``ERROR``.

The columns of the five frames (:data:`FRAME_COLUMNS`, the contract of ``docs/analysis.md``)
are defined here, below every source: the loaders (``spackmon_analysis.loaders``) emit them,
``frames.MonitorData`` brings any frame to their dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BUILD_STATUSES = ("CANCELLED", "SUCCESS", "NOTRUN", "FAILED")
PHASE_STATUSES = ("SUCCESS", "ERROR")
#: How a note in ``MonitorData.notes`` starts when a report has a failure and no DAG was
#: given to find the packages it blocked (:func:`~spackmon_analysis.failures.failures`
#: repeats such notes).
NO_DAG_NOTE = "no DAG"
ENVIRONMENT_FIELDS = ("host_os", "platform", "host_target", "hostname", "kernel_version")


@dataclass
class BuildRecord:
    """One build of one spec in one build environment.

    ``key`` identifies the build within its source: the 32-hex local id of a
    save-local run, the server's build id (as a string) or the prefix's DAG hash.
    ``status`` is what the source recorded (``None`` when it recorded nothing, as
    Spack 0.17 does for the package whose phase failed).
    """

    key: str
    full_hash: str
    spec_name: str | None = None
    spec_version: str | None = None
    status: str | None = None
    host_os: str | None = None
    platform: str | None = None
    host_target: str | None = None
    hostname: str | None = None
    kernel_version: str | None = None
    spack_version: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    build_id: int | None = None
    run: str | None = None
    source: str | None = None
    created_at: Any = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    config_args: str | None = None
    install_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``name@version`` of the compiler when the source names it without a spec (a JUnit
    #: ``compiler`` property); None: the spec's
    compiler: str | None = None
    #: seconds the source gives for the whole build (a JUnit ``testcase``'s ``time``);
    #: None: the sum of the phase durations is used
    duration: float | None = None
    #: the failure/error message and the traceback a report gives (JUnit ``<failure
    #: message=...>`` and its text); None elsewhere
    message: str | None = None
    traceback: str | None = None

    def environment(self) -> dict[str, str | None]:
        """The five build-environment fields plus ``spack_version``."""
        env = {name: getattr(self, name) for name in ENVIRONMENT_FIELDS}
        env["spack_version"] = self.spack_version
        return env


@dataclass
class PhaseRecord:
    """One phase (``autoreconf``, ``configure``, ``build``, ``install``...) of a build.

    ``order`` is the 0-based position of the phase within its build when the source
    knows it (install prefixes' ``spack-build-NN-<phase>-out.txt``; timestamps in the
    output otherwise); ``duration`` is in seconds when known. ``first_line`` is the 1-based
    line where ``output`` starts in the file ``source`` (a phase cut out of a combined
    ``spack-build-out.txt``; None when the output is the whole file).
    """

    build_key: str
    name: str
    status: str | None
    output: str | None = None
    order: int | None = None
    duration: float | None = None
    started_at: Any = None
    finished_at: Any = None
    phase_id: int | None = None
    source: str | None = None
    first_line: int | None = None


@dataclass
class ReportRun:
    """One ``spack install --log-format junit|cdash`` report (a JUnit file or a CDash
    directory): one install command's builds.

    ``name``: the run's name (the file's stem / the directory's name); ``path``: the file or
    directory; ``format``: ``"junit"`` or ``"cdash"``; ``started_at``: when the run started
    (UTC) when the report says; ``roots``: ``(name, DAG hash prefix or None)`` of each root
    spec the report names (a JUnit ``testsuite`` per root; CDash names only the install
    command's first spec name); ``events``: ``(build key, phase name) -> LogEvent list`` for
    phases whose events the report itself lists (CDash ``<Error>``/``<Warning>``; the other
    phases' events come from their output); ``notes``: ``(input, message)`` for what the
    reader left out or decided on purpose.
    """

    name: str
    path: str
    format: str
    started_at: Any = None
    spack_version: str | None = None
    spack_commit: str | None = None
    roots: list[tuple[str, str | None]] = field(default_factory=list)
    builds: list[BuildRecord] = field(default_factory=list)
    phases: list[PhaseRecord] = field(default_factory=list)
    events: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    notes: list[tuple[str, str]] = field(default_factory=list)
    #: build key -> the root spec it was reported under (its JUnit testsuite's root, the
    #: CDash BuildName's install command); the first one for a package under several roots
    build_roots: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------
# the frame contract: columns every loader emits (frames.MonitorData conforms dtypes)

#: The ``builds.outcome`` categories, in this order.
OUTCOMES = ("succeeded", "failed", "never built", "unknown")
#: The ``builds.source`` categories.
SOURCES = ("save-local", "server", "install", "database", "junit", "cdash")
BUILD_STATUS_CATEGORIES = ("SUCCESS", "FAILED", "NOTRUN", "CANCELLED")
PHASE_STATUS_CATEGORIES = ("SUCCESS", "ERROR")
EVENT_KINDS = ("error", "warning")

# (column, kind, fixed categories) per frame; kinds: string, category, bool, Int64,
# float64, datetime, object.
_S = "string"
_C = "category"
FRAME_COLUMNS: dict[str, list[tuple[str, str, tuple[str, ...] | None]]] = {
    "specs": [
        ("full_hash", _S, None),
        ("name", _S, None),
        ("version", _S, None),
        ("compiler", _C, None),
        ("compiler_name", _S, None),
        ("compiler_version", _S, None),
        ("platform", _C, None),
        ("os", _C, None),
        ("target", _C, None),
        ("namespace", _S, None),
        ("external", "bool", None),
        ("dag_hash", _S, None),
        ("build_hash", _S, None),
        ("variants_text", _S, None),
        ("build_spec", _S, None),
    ],
    "dependencies": [
        ("parent_hash", _S, None),
        ("child_hash", _S, None),
        ("parent_name", _S, None),
        ("child_name", _S, None),
        ("deptypes", _S, None),
    ],
    "builds": [
        ("build", _S, None),
        ("build_id", "Int64", None),
        ("run", _C, None),
        ("run_time", "datetime", None),
        ("full_hash", _S, None),
        ("dag_hash", _S, None),
        ("spec_name", _S, None),
        ("spec_version", _S, None),
        ("compiler", _C, None),
        ("status", _C, BUILD_STATUS_CATEGORIES),
        ("outcome", _C, OUTCOMES),
        ("host_os", _C, None),
        ("platform", _C, None),
        ("host_target", _C, None),
        ("hostname", _C, None),
        ("kernel_version", _C, None),
        ("spack_version", _C, None),
        ("tags", "object", None),
        ("owner", _S, None),
        ("created_at", "datetime", None),
        ("duration", "float64", None),
        ("source", _C, SOURCES),
    ],
    "phases": [
        ("build", _S, None),
        ("phase_id", "Int64", None),
        ("name", _C, None),
        ("order", "Int64", None),
        ("status", _C, PHASE_STATUS_CATEGORIES),
        ("output_size", "Int64", None),
        ("duration", "float64", None),
        ("started_at", "datetime", None),
        ("finished_at", "datetime", None),
        ("output", _S, None),
        ("build_log_first_line", "Int64", None),
    ],
    "events": [
        ("build", _S, None),
        ("phase", _C, None),
        ("kind", _C, EVENT_KINDS),
        ("text", _S, None),
        ("line_no", "Int64", None),
        ("source_file", _S, None),
        ("source_line_no", "Int64", None),
        ("pre_context", "object", None),
        ("post_context", "object", None),
        ("repeat_count", "Int64", None),
        ("classes", "object", None),
        ("primary_class", _S, None),
        ("fingerprint", _S, None),
    ],
    # the build history: every attempt of a build (history.py; docs/analysis.md)
    "attempts": [
        ("attempt", _S, None),
        ("build", _S, None),
        ("number", "Int64", None),
        ("started_at", "datetime", None),
        ("finished_at", "datetime", None),
        ("status", _C, BUILD_STATUS_CATEGORIES),
        ("outcome", _C, OUTCOMES),
        ("duration", "float64", None),
        ("latest", "bool", None),
    ],
    "attempt_phases": [
        ("attempt", _S, None),
        ("name", _C, None),
        ("order", "Int64", None),
        ("status", _C, PHASE_STATUS_CATEGORIES),
        ("duration", "float64", None),
        ("started_at", "datetime", None),
    ],
    "attempt_events": [
        ("attempt", _S, None),
        ("phase", _C, None),
        ("kind", _C, EVENT_KINDS),
        ("text", _S, None),
        ("line_no", "Int64", None),
        ("primary_class", _S, None),
        ("fingerprint", _S, None),
    ],
}
#: The five frames, in this order.
FRAME_NAMES = ("specs", "dependencies", "builds", "phases", "events")
#: The history frames: every attempt of every build (a build row shows its latest attempt).
ATTEMPT_FRAMES = ("attempts", "attempt_phases", "attempt_events")

_API_EVENT_FIELDS = (
    "id", "build", "phase", "phase_name", "attempt", "kind", "text", "line_no",
    "source_file", "source_line_no", "pre_context", "post_context", "repeat_count", "classes",
)  # fmt: skip
_API_PHASE_FIELDS = (
    "id", "build", "attempt", "name", "status", "output", "output_size", "created_at",
    "updated_at",
)  # fmt: skip
#: The data API's contract: the fields of each ``/api/<route>/`` row, in the order the
#: server's row shapers (``server/queries/rows.py``) give them. The server checks ``fields=``
#: against it, the client's pulls give an empty pull these columns (``ROUTE_COLUMNS``); a
#: test checks the rows the server sends against it.
DATA_API_FIELDS: dict[str, tuple[str, ...]] = {
    "specs": (
        "id", "name", "version", "full_hash", "hash", "build_hash", "dag_hash",
        "package_hash", "spack_version", "namespace", "compiler_name", "compiler_version",
        "compiler", "architecture", "platform", "os", "target", "parameters", "external",
        "external_path", "is_root", "created_at", "build_spec",
    ),
    "dependencies": (
        "id", "spec", "dependency", "spec_full_hash", "dependency_full_hash", "spec_name",
        "dependency_name", "deptypes", "virtuals",
    ),
    "builds": (
        "id", "spec", "spec_name", "spec_version", "full_hash", "status",
        "build_environment", "host_os", "platform", "host_target", "hostname",
        "kernel_version", "spack_version", "tags", "owner", "config_args", "created_at",
        "updated_at", "attempt", "attempts",
    ),
    "buildenvironments": (
        "id", "hostname", "host_os", "platform", "host_target", "kernel_version",
    ),
    "buildphases": _API_PHASE_FIELDS,
    "builderrors": _API_EVENT_FIELDS,
    "buildwarnings": _API_EVENT_FIELDS,
    "attempts": (
        "id", "build", "number", "status", "latest", "started_at", "run_time", "created_at",
        "updated_at",
    ),
    "attemptphases": _API_PHASE_FIELDS,
    "attempterrors": _API_EVENT_FIELDS,
    "attemptwarnings": _API_EVENT_FIELDS,
    "installfiles": (
        "id", "build", "path", "prefix", "ftype", "mode", "owner", "group", "hash", "size",
        "time", "extra",
    ),
    "attributes": (
        "id", "build", "analyzer", "name", "install_file", "value", "json_value",
        "binary_value",
    ),
    "environmentvariable": ("id", "build", "name", "value"),
    "compilers": ("id", "name", "version"),
    "architectures": ("id", "platform", "os", "target", "target_name"),
    "targets": ("id", "name", "vendor", "generation", "features", "parents"),
    "features": ("id", "name"),
}  # fmt: skip
