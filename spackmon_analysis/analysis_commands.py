"""``spackmon`` subcommands for build-failure analysis: ``failures``, ``report`` and
``summary``.

``spackmon summary --db URL`` prints failure counts and rates per group (``--by``, and per day
or week with ``--freq``), computed by the database
(:func:`spackmon_analysis.dashboard.database_summary`); the other two read their data from one SOURCE:

- a ``--monitor-save-local`` run directory or a directory of runs, or an install tree,
  install prefix or failed stage directory (:func:`spackmon_analysis.frames.load`);
- ``--host URL`` (with ``--user``/``--token``, or ``SPACKMON_HOST``/``SPACKMON_USER``/
  ``SPACKMON_TOKEN``): everything a monitor server holds, through the client;
- ``--db URL``: a monitor server's database read directly (SQLite path or URL,
  PostgreSQL URL);
- with none of the three: the server named by ``$SPACKMON_HOST`` (like the client
  commands).

Inputs the loader had to skip (corrupt or unreadable files, ``data.problems``) are
listed on stderr and in a "Skipped inputs" section of the text report; the command
then exits 1, with the report still written. Exit 0 means every input was read.

``spackmon failures SOURCE`` prints the text failure report, or with ``--format
csv|json`` the :func:`~spackmon_analysis.failures.failures` table (lists as
comma-joined text in CSV); ``spackmon report SOURCE --out DIR`` writes ``report.txt``,
``report.html`` and the PNG plots into DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["register", "load_source"]

FORMATS = ("text", "csv", "json")


def _source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        nargs="?",
        metavar="SOURCE",
        help="save-local directory (one run or a directory of runs), install tree, "
        "prefix or stage directory, JUnit report (spack install --log-format junit) or "
        "CDash report directory; omit with --host or --db (or set SPACKMON_HOST)",
    )
    parser.add_argument(
        "--dag",
        action="append",
        default=[],
        metavar="PATH",
        help="spec file, install tree or spack.lock giving the DAG of a JUnit/CDash SOURCE, so the "
        "packages a failure blocked (left out of such reports) are listed; repeatable "
        "(default: none)",
    )
    from .client_commands import connection_options

    group = parser.add_argument_group("server or database instead of SOURCE")
    group.add_argument(
        "--db", metavar="URL", help="server database: SQLite path/URL or PostgreSQL (default: none)"
    )
    connection_options(
        group,
        host_help="monitor server URL, e.g. http://127.0.0.1:5000 (default: $SPACKMON_HOST when "
        "no SOURCE or --db is given)",
    )
    parser.add_argument(
        "--rules", help="failure-class rules file (default: the packaged one; file sources)"
    )


def load_source(args: argparse.Namespace) -> Any:
    """The :class:`~spackmon_analysis.frames.MonitorData` named by the parsed options."""
    from .frames import MonitorData, load

    chosen = [bool(args.source), bool(args.host), bool(args.db)]
    if sum(chosen) > 1:
        raise ConfigError("give exactly one of SOURCE, --host URL or --db URL, not several")
    if not any(chosen):
        host = os.environ.get("SPACKMON_HOST", "").strip()
        if not host:
            raise ConfigError(
                "no data source: give exactly one of SOURCE (a save-local or install "
                "directory), --host URL (a monitor server) or --db URL (a server database), "
                "or set SPACKMON_HOST (with SPACKMON_USER and SPACKMON_TOKEN)"
            )
        args.host = host
    if args.db:
        return MonitorData.from_database(args.db)
    if args.host:
        from .client_commands import client_from_args

        args.no_progress = True
        with client_from_args(args) as client:
            return MonitorData.from_client(client)
    kwargs = {"rules": args.rules} if args.rules else {}
    dags = getattr(args, "dag", None) or []
    if dags and not args.source:
        raise ConfigError("--dag goes with a SOURCE (a JUnit or CDash report)")
    return load(args.source, *dags, **kwargs)


def register(subparsers: Any) -> None:
    """Add ``failures``, ``report`` and ``summary`` to the ``spackmon`` parser."""
    failures = subparsers.add_parser(
        "failures",
        help="root-cause failures and the dependents they blocked",
        description=(
            "Print which builds failed in one of their own phases (root causes: first "
            "error, context, failure class) and which dependents never built because of "
            "them; --format csv|json prints the table instead."
        ),
    )
    _source_options(failures)
    failures.add_argument("--format", choices=FORMATS, default="text", help="default: text")
    failures.add_argument(
        "--no-context",
        action="store_true",
        help="text: leave out the error context lines (default: shown)",
    )
    failures.add_argument(
        "-o", "--output", help="write to this file instead of stdout (default: stdout)"
    )
    failures.set_defaults(func=_failures)

    report = subparsers.add_parser(
        "report",
        help="write a text + HTML failure report with PNG plots",
        description=(
            "Write report.txt, a self-contained report.html (plots embedded) and the PNG "
            "plots into --out."
        ),
    )
    _source_options(report)
    report.add_argument(
        "--out",
        required=True,
        help="output folder (required; created when the report is written, not on an error)",
    )
    report.set_defaults(func=_report)

    summary = subparsers.add_parser(
        "summary",
        help="failure counts and rates per group, computed by a server's database",
        description=(
            "Count builds, failures (root causes), blocked and succeeded builds per package, "
            "compiler, ... (and per day or week with --freq) in a monitor server's database, "
            "with SQL GROUP BY: the answer of failure_rates/failure_trends without loading "
            "the builds (spackmon_analysis.database_summary)."
        ),
    )
    summary.add_argument(
        "--db",
        metavar="URL",
        help="server database: SQLite path/URL or PostgreSQL (default: $SPACKMON_DB)",
    )
    summary.add_argument(
        "--by",
        action="append",
        metavar="COLUMN",
        help="group column, repeatable: spec_name (package), spec_version, compiler, status, "
        "outcome, host_os, platform, host_target, hostname, kernel_version, spack_version, "
        "owner, tags (default: spec_name; none with --freq: every build per period)",
    )
    summary.add_argument(
        "--freq", choices=("day", "week"), help="per UTC day or week from Monday (default: none)"
    )
    summary.add_argument("--since", help="builds created at or after, ISO 8601 (default: none)")
    summary.add_argument("--until", help="builds created before, ISO 8601 (default: none)")
    for option, dest, what in (
        ("--package", "packages", "package name"),
        ("--tag", "tags", "tag (a build with any of them)"),
        ("--status", "status", "build status: SUCCESS, FAILED, NOTRUN, CANCELLED"),
    ):
        summary.add_argument(
            option, dest=dest, action="append", help=f"only this {what}; repeatable (default: all)"
        )
    summary.add_argument("--format", choices=FORMATS, default="text", help="default: text")
    summary.set_defaults(func=_summary)


def _table_text(frame: Any, fmt: str) -> str:
    frame = frame.copy()
    if "run_time" in frame:
        frame["run_time"] = frame["run_time"].map(
            lambda v: None if v is None or v != v else v.isoformat()
        )
    list_columns = ("blocked_direct", "blocked_transitive", "blocked_by")
    if fmt == "csv":
        for column in list_columns:
            frame[column] = frame[column].map(lambda v: ",".join(v or ()))
        from .safetext import csv_safe

        return csv_safe(frame).to_csv(index=False)  # no cell starts a spreadsheet formula
    records = json.loads(frame.to_json(orient="records"))
    return json.dumps(records, indent=2) + "\n"


def _skipped(data: Any, command: str) -> int:
    """List the inputs the loader skipped on stderr; the exit status (1 if any)."""
    problems = list(getattr(data, "problems", None) or [])
    for name, message in getattr(data, "notes", None) or []:
        if (name, message) not in problems:  # a skip in both is listed once, below
            print(f"spackmon {command}: note: {name}: {message}", file=sys.stderr)
    if not problems:
        return 0
    print(
        f"spackmon {command}: warning: skipped {len(problems)} unreadable input(s); "
        "the report leaves them out:",
        file=sys.stderr,
    )
    for name, message in problems:
        print(f"    {name}: {message}", file=sys.stderr)
    return 1


def output_dir(path: str | Path, option: str, *, create: bool = True) -> Path:
    """``path`` as a folder, created; ConfigError naming it when it cannot be one.

    With ``create=False`` it is only checked (a command calls it so before its work, and
    again with ``create=True`` just before writing, so a failed run leaves no empty folder).
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{option} {out}: exists and is not a directory; give a folder")
    if not create:
        return out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {out}: cannot create the folder ({exc.strerror})") from exc
    return out


def _write(path: Path, text: str, option: str) -> None:
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory; give a file name")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write ({exc.strerror})") from exc


def _failures(args: argparse.Namespace) -> int:
    from .failures import failures
    from .report import failure_report

    data = load_source(args)
    if args.format == "text":
        text = failure_report(data, context=not args.no_context)
    else:
        text = _table_text(failures(data), args.format)
    if args.output:
        _write(Path(args.output), text, "-o")
        print(f"Wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return _skipped(data, "failures")


def _report(args: argparse.Namespace) -> int:
    from .report import write_report

    out = output_dir(args.out, "--out", create=False)  # a bad --out fails before the work
    data = load_source(args)
    # the tables and plots worked out once for the three kinds of file; the folder is
    # created only when everything is ready to write
    files = write_report(data, out)
    print(f"Wrote {len(files)} files to {out}/:")
    for path in files:
        print(f"    {Path(path).name}")
    return _skipped(data, "report")


def _summary(args: argparse.Namespace) -> int:
    from .dashboard import database_summary

    url = args.db or os.environ.get("SPACKMON_DB", "").strip()
    if not url:
        raise ConfigError(
            "no database: give --db URL (SQLite path/URL or PostgreSQL) or set SPACKMON_DB"
        )
    by: Any = args.by or (None if args.freq else "spec_name")
    frame = database_summary(
        url,
        by,
        freq=args.freq,
        since=args.since,
        until=args.until,
        packages=args.packages,
        tags=args.tags,
        status=args.status,
    )
    if "period" in frame.columns:
        frame["period"] = frame["period"].map(lambda t: t.strftime("%Y-%m-%d"))
    if args.format == "text":
        frame["failure_rate"] = frame["failure_rate"].round(4)
        text = frame.to_string(index=False) + "\n" if len(frame) else "no builds\n"
    elif args.format == "csv":
        from .safetext import csv_safe

        text = csv_safe(frame).to_csv(index=False)
    else:
        text = json.dumps(json.loads(frame.to_json(orient="records")), indent=2) + "\n"
    sys.stdout.write(text)
    return 0
