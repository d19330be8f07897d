"""``spackmon`` subcommands that talk to a monitor server: info, upload, replay, pull.

Every command takes ``--host``/``--prefix`` and ``--user``/``--token``; each falls
back to ``SPACKMON_HOST``, ``SPACKMON_PREFIX``, ``SPACKMON_USER`` and
``SPACKMON_TOKEN`` (then to ``http://127.0.0.1:5000``, where ``spackmon serve`` listens by
default, and ``ms1``). A host URL may end in the prefix (``http://127.0.0.1:5000/ms1/``, as
``spackmon serve`` prints it). When no host is named and nothing answers at the default, the
command fails at once (no retries) with a one-line error saying what to export.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

# the parser needs only these constants: the client (requests) is imported when a command runs
from .client.defaults import PULL_ROUTES, SERVE_URL
from .errors import ConfigError

if TYPE_CHECKING:
    from .client import SpackMonitorClient

__all__ = ["register", "client_from_args", "connection_options"]

PULL_FORMATS = ("csv", "parquet", "json")


def _connection_options(parser: argparse.ArgumentParser) -> None:
    connection_options(
        parser.add_argument_group("server connection"),
        host_help=(
            "server URL, e.g. http://127.0.0.1:5000 or http://127.0.0.1:5000/ms1/ "
            f"(default: $SPACKMON_HOST, else {SERVE_URL}, where spackmon serve listens)"
        ),
    )


def connection_options(group: Any, *, host_help: str) -> None:
    """The options :func:`client_from_args` reads (``--host`` ... ``--auth-host``), added
    to ``group`` (a parser or an argument group); ``failures``/``report`` share them."""
    group.add_argument("--host", help=host_help)
    group.add_argument("--prefix", help="API prefix (default: $SPACKMON_PREFIX, else ms1)")
    group.add_argument("--user", help="user name (default: $SPACKMON_USER)")
    group.add_argument("--token", help="API token (default: $SPACKMON_TOKEN)")
    group.add_argument("--timeout", type=float, default=30, help="seconds per request (default 30)")
    group.add_argument(
        "--retries", type=int, default=3, help="retries on connection errors/502-504 (default 3)"
    )
    group.add_argument(
        "--auth-host",
        action="append",
        metavar="URL",
        help=(
            "another origin allowed to issue this server's tokens (repeatable; the API token "
            "is otherwise sent only to the server's own origin; default: $SPACKMON_AUTH_HOSTS)"
        ),
    )


def client_from_args(args: argparse.Namespace) -> SpackMonitorClient:
    """A client from ``--host/--prefix/--user/--token`` with the environment as fallback."""
    from .client import CLI_HINTS, SpackMonitorClient

    prefix = args.prefix or os.environ.get("SPACKMON_PREFIX") or "ms1"
    named = args.host or os.environ.get("SPACKMON_HOST")
    client = SpackMonitorClient(
        host=named or SERVE_URL,
        prefix=prefix,
        token=args.token or None,
        username=args.user or None,
        timeout=args.timeout,
        retries=args.retries,
        progress=False if getattr(args, "no_progress", False) else None,  # None: when watched
        auth_hosts=getattr(args, "auth_host", None) or None,  # None: $SPACKMON_AUTH_HOSTS
    )
    client._hints.update(CLI_HINTS)  # errors name --host/--user/--token, not host=/token=
    # nothing named a server: try where `spackmon serve` listens, and fail at once if it is not
    client.host_is_default = not named
    return client


def register(subparsers: Any) -> None:
    """Add ``info``, ``upload``, ``replay`` and ``pull`` to the ``spackmon`` parser."""
    info = subparsers.add_parser(
        "info",
        help="print the server's service info",
        description="GET /ms1/ and print it as JSON.",
    )
    _connection_options(info)
    info.set_defaults(func=_info)

    upload = subparsers.add_parser(
        "upload",
        help="upload today's Spack data (reports, install trees, ...) or a spec file",
        description=(
            "Send builds to the server through the ms1 protocol: JUnit or CDash reports "
            "(spack install --log-format junit|cdash), install trees, prefixes and stage "
            "directories, the install database, spack.lock files and environments, save-local "
            "runs, spec files (the DAG), or folders holding several; specs, builds, phases "
            "with their logs, statuses. Idempotent: the same files sent twice add nothing. "
            "What cannot be sent is named in the summary. A single spec file alone is "
            "uploaded to specs/new/ as it is (as before)."
        ),
    )
    upload.add_argument(
        "paths", nargs="+", metavar="PATH", help="report, install tree, spack.lock, spec file, ..."
    )
    upload.add_argument(
        "--dag",
        action="append",
        default=[],
        metavar="PATH",
        help=(
            "a spec file, spack.lock or install tree giving the DAG: the packages a report "
            "leaves out because a dependency failed, and the reports' full specs (repeatable; "
            "default: none, only the DAG the PATHs hold)"
        ),
    )
    upload.add_argument(
        "--spack-version",
        help=(
            "the Spack version where the source does not say (a JUnit report; a spec file "
            "uploaded alone); `spack --version` output is accepted (default: unknown)"
        ),
    )
    upload.add_argument(
        "--hostname", help="build host name where the source does not say (default: unknown)"
    )
    upload.add_argument(
        "--kernel-version",
        help="build host kernel version where the source does not say (default: unknown)",
    )
    upload.add_argument("--tags", help="comma-separated tags added to every build (default: none)")
    upload.add_argument("--workers", type=int, default=4, help="parallel build uploads (default 4)")
    upload.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: shown only on a terminal)",
    )
    upload.add_argument(
        "--no-batch",
        action="store_true",
        help=(
            "one request at a time even when the server advertises the batch extension "
            "(default: batches with spackmon serve, one request at a time elsewhere)"
        ),
    )
    _connection_options(upload)
    upload.set_defaults(func=_upload)

    replay = subparsers.add_parser(
        "replay",
        help="replay --monitor-save-local directories",
        description=(
            "Upload save-local runs (a run directory or a directory of runs such as "
            "~/.spack/reports/monitor/): specs, builds, phases, statuses. Idempotent."
        ),
    )
    replay.add_argument("dirs", nargs="+", metavar="DIR", help="save-local run directory")
    replay.add_argument(
        "--workers", type=int, default=4, help="parallel phase/status uploads (default 4)"
    )
    replay.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: shown only on a terminal)",
    )
    replay.add_argument(
        "--no-batch",
        action="store_true",
        help=(
            "one request per file even when the server advertises the batch extension "
            "(default: batches with spackmon serve, one request per file elsewhere)"
        ),
    )
    _connection_options(replay)
    replay.set_defaults(func=_replay)

    pull = subparsers.add_parser(
        "pull",
        help="download a data API table to csv/parquet/json",
        description=(
            "Download /api/<TABLE>/ (all pages) to a file. TABLE is a data API route "
            f"or one of the shortcuts {', '.join(PULL_ROUTES)}."
        ),
    )
    pull.add_argument("table", metavar="TABLE", help="builds, specs, phases, errors, warnings, ...")
    pull.add_argument(
        "--format", choices=PULL_FORMATS, default=None, help="default: from -o suffix"
    )
    pull.add_argument("-o", "--output", required=True, help="file to write (required)")
    pull.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a data API filter, e.g. status=FAILED (repeatable; default: none, every row)",
    )
    pull.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: shown only on a terminal)",
    )
    _connection_options(pull)
    pull.set_defaults(func=_pull)


def _info(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        print(json.dumps(client.service_info(), indent=4))
    return 0


def _is_lone_spec_file(args: argparse.Namespace) -> bool:
    """One path, no --dag/--tags/--hostname/--kernel-version, and it is a spec file (not a
    JUnit report): ``spackmon upload`` then sends it to specs/new/ as it is."""
    if len(args.paths) != 1 or args.dag or args.tags or args.hostname or args.kernel_version:
        return False
    path = Path(args.paths[0]).expanduser()
    if path.suffix.lower() not in (".json", ".yaml", ".yml", ".gz", ".sig"):
        return False
    if not path.exists():
        return True  # the spec file upload names it: "cannot read file"
    if not path.is_file():
        return False
    if path.name == "index.json" and path.parent.name == ".spack-db":
        return False
    from .loaders.junit import is_junit_file

    return not is_junit_file(path)


def _spack_version(text: str | None) -> str | None:
    """``--spack-version``: a version, or what ``spack --version`` prints (``0.22.1
    (4f5ae3e0...)``): its first word."""
    if not text or not text.strip():
        return None
    return text.split()[0]


def _upload(args: argparse.Namespace) -> int:
    args.spack_version = _spack_version(args.spack_version)
    if _is_lone_spec_file(args):
        return _upload_specfile(args, args.paths[0])
    with client_from_args(args) as client:
        summary = client.upload(
            *args.paths,
            dag=args.dag,
            spack_version=args.spack_version,
            hostname=args.hostname,
            kernel_version=args.kernel_version,
            tags=args.tags,
            progress=False if args.no_progress else None,
            workers=args.workers,
            batch=not args.no_batch,
        )
    print(repr(summary))  # the table, what was not sent and why, the notes
    return 1 if summary.problems else 0


def _upload_specfile(args: argparse.Namespace, specfile: str) -> int:
    if not args.spack_version:
        from .spec import load_spec

        if load_spec(specfile).spack_version is None:  # parsed again by the client
            raise ConfigError(
                f"{specfile}: this spec file carries no Spack version; "
                "pass --spack-version (e.g. the output of `spack --version`)"
            )
    with client_from_args(args) as client:
        envelope = client.upload_specfile(specfile, args.spack_version)
    data = envelope.get("data") if isinstance(envelope, dict) else None
    created = isinstance(data, dict) and data.get("created") is True
    if not isinstance(data, dict) or "created" not in data:
        created = isinstance(envelope, dict) and envelope.get("code") == 201
    if created:
        print("The package was successfully created.")
    else:
        print("This package already exists in the database.")
    spec = data.get("spec") if isinstance(data, dict) else None
    if spec:
        print(json.dumps(spec, indent=4))
    return 0


def _replay(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        summary = client.upload_local_save(
            args.dirs,
            progress=False if args.no_progress else None,
            workers=args.workers,
            batch=not args.no_batch,
        )
    print(repr(summary))  # the table, and a note naming builds whose state changed
    return 1 if summary.problems else 0


#: Keyword arguments of ``SpackMonitorClient.pull`` that are not data-API filters.
_PULL_OPTIONS = ("page_size", "progress")


def _parse_filters(items: list[str]) -> dict[str, Any]:
    """``--filter KEY=VALUE`` items -> the filters for ``client.pull``.

    ``page_size`` and ``progress`` are refused: passed on, they would set the client's paging
    or progress bar instead of filtering (``spackmon pull`` has no flag for either)."""
    filters: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--filter {item!r}: expected KEY=VALUE")
        if key in _PULL_OPTIONS:
            raise ConfigError(f"--filter {item!r}: {key} is not a filter of the data API")
        filters[key] = value
    return filters


def _encode_nested(frame: Any, kinds: tuple[type, ...]) -> Any:
    """A copy of ``frame`` whose cells of the given container types are JSON text.

    CSV has no nested values and Parquet cannot store empty structs (``extra: {}``),
    so mappings (and, for CSV, lists) are written as JSON strings.
    """
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object and values.map(lambda v: isinstance(v, kinds)).any():
            frame[column] = values.map(
                lambda v: json.dumps(v, sort_keys=True) if isinstance(v, kinds) else v
            )
    return frame


def _pull(args: argparse.Namespace) -> int:
    output = Path(args.output)
    fmt = args.format or output.suffix.lstrip(".").lower()
    if fmt not in PULL_FORMATS:
        raise ConfigError(
            f"cannot tell the format of {output}: pass --format {'|'.join(PULL_FORMATS)}"
        )
    if output.is_dir():
        raise ConfigError(
            f"-o {output}: is a directory; give a file name such as {output}/{args.table}.{fmt}"
        )
    if not output.parent.is_dir():
        raise ConfigError(f"-o {output}: the folder {output.parent} does not exist")
    route = PULL_ROUTES.get(args.table, args.table)
    with client_from_args(args) as client:
        pulled = client.pull(route, **_parse_filters(args.filter))
        rows = list(pulled)
        frame = pulled.to_frame()  # the pages are cached: no second download
    try:
        _write_pulled(output, fmt, rows, frame)
    except OSError as exc:
        raise ConfigError(f"-o {output}: cannot write ({exc.strerror or exc})") from exc
    print(f"Wrote {len(frame)} row(s) of {route} to {output}", file=sys.stderr)
    return 0


def _write_pulled(output: Path, fmt: str, rows: list, frame: Any) -> None:
    if fmt == "json":
        # the server's rows as they came, as plain JSON (pandas' to_json escapes "/")
        output.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    elif fmt == "csv":
        from .safetext import csv_safe

        # no cell starts a spreadsheet formula (=, +, -, @): such cells get a leading '
        csv_safe(_encode_nested(frame, (dict, list))).to_csv(output, index=False)
    elif fmt == "parquet":
        try:
            _encode_nested(frame, (dict,)).to_parquet(output, index=False)
        except ImportError as exc:
            raise ConfigError(f"parquet output needs pyarrow (pip install pyarrow): {exc}") from exc
