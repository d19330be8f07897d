"""The public API is pinned, every name resolves, and every CLI subcommand is in the README."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import spackmon_analysis as sma
from spackmon_analysis.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]

PUBLIC_API = [
    "__version__",
    # spec reader
    "load_spec", "SpecGraph", "SpecNode", "SpecEdge", "SpecDiff",
    "BuildRecord", "PhaseRecord",
    # sources on disk
    "read_save_local", "SaveLocalRun", "read_install_prefix", "find_install_prefixes",
    "InstallRecord",
    # logs
    "parse_log", "LogEvent", "events_frame", "load_rules", "classify", "fingerprint",
    # client and server
    "SpackMonitorClient", "ReplaySummary", "LocalMonitor", "create_app",
    # loaders
    "MonitorData", "load", "load_save_local", "load_install_tree", "load_junit", "load_cdash",
    "load_environment",
    # analysis
    "failures", "failure_rates", "failure_matrix", "phase_times", "error_fingerprints",
    "flaky", "class_summary",
    # build history
    "attempt_table", "error_history", "flaky_builds", "outcome_changes", "slow_phases",
    "failure_trends", "failure_cost", "failure_groups", "timeline", "busiest_keys",
    "database_summary",
    # views
    "plot_dependency_graph", "plot_failure_matrix", "plot_phase_outcomes",
    "plot_error_classes", "plot_build_times", "plot_failure_trends", "plot_timeline",
    "explore", "Explorer",
    "failure_report", "write_html_report", "write_plots", "write_report",
    "run_demo", "example_data_dir", "generate_spec_document", "generate_save_local",
    "generate_history",
    # errors
    "SpackmonError", "SpecFormatError", "SaveLocalError", "InstallPrefixError", "ReportError",
    "LogParseError", "RulesError", "ConfigError", "UnknownKeyError", "SchemaVersionError", "MonitorError",
    "TransportError", "RedirectError", "HTTPStatusError", "BadRequestError", "AuthError",
    "NotFoundError", "PayloadTooLargeError", "ServerError",
]  # fmt: skip


def test_all_is_pinned() -> None:
    """Adding or removing a public name is a decision: change this list with it."""
    assert sorted(sma.__all__) == sorted(PUBLIC_API)
    assert len(set(sma.__all__)) == len(sma.__all__)


def test_every_public_name_resolves() -> None:
    for name in sma.__all__:
        assert getattr(sma, name) is not None, name
    assert set(sma.__all__) <= set(dir(sma))


def test_errors_share_one_root() -> None:
    for name in PUBLIC_API:
        obj = getattr(sma, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, sma.SpackmonError), name


def test_failures_stays_the_function_after_its_module_is_imported() -> None:
    code = (
        "import spackmon_analysis as sma, spackmon_analysis.report\n"
        "from spackmon_analysis.failures import failures\n"
        "assert sma.failures is failures, sma.failures\n"
        "from spackmon_analysis import failures as f\n"
        "assert callable(f)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_is_light() -> None:
    """``import spackmon_analysis`` alone loads neither matplotlib nor the server stack."""
    code = (
        "import sys, spackmon_analysis\n"
        "heavy = [m for m in ('matplotlib', 'ipywidgets', 'fastapi', 'sqlalchemy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _subcommands(parser) -> dict[str, object]:
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return dict(actions[0].choices) if actions else {}


def test_every_subcommand_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    assert not parser.epilog, parser.epilog  # every command module imported
    commands = _subcommands(parser)
    assert {"serve", "users", "info", "upload", "replay", "pull", "demo"} <= set(commands)
    missing = []
    for name, sub in commands.items():
        if not re.search(rf"spackmon {re.escape(name)}\b", readme):
            missing.append(name)
        for child in _subcommands(sub):
            if not re.search(rf"spackmon {re.escape(name)} {re.escape(child)}\b", readme):
                missing.append(f"{name} {child}")
    assert not missing, f"README.md does not show: {missing}"


def test_readme_quick_start_is_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", section, re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert len(commands) == 2, commands
    assert "spackmon demo" in commands[0] and "pip install" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].strip() in ci, "the README's test command is what CI runs"
    install = re.search(r"pip install (-e \S+)", commands[0])
    assert install and f"pip install -q {install.group(1)}" in ci, "CI installs as the README does"
