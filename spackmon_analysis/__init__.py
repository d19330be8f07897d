"""spackmon-analysis: Jupyter-friendly analytics over Spack Monitor data.

The public API is everything in :data:`__all__`, importable from the package itself::

    import spackmon_analysis as sma

    data = sma.load_save_local("~/.spack/reports/monitor")
    sma.failures(data)

Names are imported on first use (PEP 562), so ``import spackmon_analysis`` stays cheap and
does not pull in matplotlib, ipywidgets or the server's FastAPI/SQLAlchemy until a function
that needs them is touched. ``LocalMonitor`` and ``create_app`` need the ``server`` extra.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .lazy import lazy_exports

__version__ = "0.1.0"

#: public name -> module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    # spec reader
    "load_spec": "spec",
    "SpecGraph": "spec",
    "SpecNode": "spec",
    "SpecEdge": "spec",
    "SpecDiff": "spec",
    # records
    "BuildRecord": "records",
    "PhaseRecord": "records",
    # sources read from disk
    "read_save_local": "loaders.savelocal",
    "SaveLocalRun": "loaders.savelocal",
    "read_install_prefix": "loaders.installs",
    "find_install_prefixes": "loaders.installs",
    "InstallRecord": "loaders.installs",
    # build logs
    "parse_log": "logs",
    "LogEvent": "logs",
    "events_frame": "logs",
    "load_rules": "logs",
    "classify": "logs",
    "fingerprint": "logs",
    # client
    "SpackMonitorClient": "client",
    "ReplaySummary": "client",
    # embedded server (needs the ``server`` extra)
    "LocalMonitor": "localmonitor",
    "create_app": "server",
    # loaders and frames
    "MonitorData": "frames",
    "load": "frames",
    "load_save_local": "frames",
    "load_install_tree": "frames",
    "load_junit": "frames",
    "load_cdash": "frames",
    "load_environment": "frames",
    # failure analysis
    "failures": "failures",
    "failure_rates": "failures",
    "failure_matrix": "failures",
    "phase_times": "failures",
    "error_fingerprints": "failures",
    "flaky": "failures",
    "class_summary": "failures",
    # build history
    "attempt_table": "history",
    "error_history": "history",
    "flaky_builds": "history",
    "outcome_changes": "history",
    "slow_phases": "history",
    "failure_trends": "history",
    "failure_cost": "history",
    "failure_groups": "history",
    "timeline": "history",
    "busiest_keys": "history",
    # dashboard summaries computed by a server's database (needs the ``server`` extra)
    "database_summary": "dashboard",
    # views
    "plot_dependency_graph": "plots",
    "plot_failure_matrix": "plots",
    "plot_phase_outcomes": "plots",
    "plot_error_classes": "plots",
    "plot_build_times": "plots",
    "plot_failure_trends": "plots",
    "plot_timeline": "plots",
    "explore": "widgets",
    "Explorer": "widgets",
    "failure_report": "report",
    "write_html_report": "report",
    "write_plots": "report",
    "write_report": "report",
    # demo and synthetic data
    "run_demo": "demo",
    "example_data_dir": "demo",
    "generate_spec_document": "synth",
    "generate_save_local": "synth",
    "generate_history": "synth",
    # errors
    "SpackmonError": "errors",
    "SpecFormatError": "errors",
    "SaveLocalError": "errors",
    "InstallPrefixError": "errors",
    "ReportError": "errors",
    "LogParseError": "errors",
    "RulesError": "errors",
    "ConfigError": "errors",
    "UnknownKeyError": "errors",
    "SchemaVersionError": "errors",
    "MonitorError": "errors",
    "TransportError": "errors",
    "RedirectError": "errors",
    "HTTPStatusError": "errors",
    "BadRequestError": "errors",
    "AuthError": "errors",
    "NotFoundError": "errors",
    "PayloadTooLargeError": "errors",
    "ServerError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)


class _Package(types.ModuleType):
    """Keeps ``spackmon_analysis.failures`` the function even after the submodule is imported.

    Importing a submodule sets it as an attribute of its package; for the one public name
    that is also a submodule name (``failures``) that would shadow the function, so the
    package ignores that assignment (the module stays reachable through ``sys.modules`` and
    ``from spackmon_analysis.failures import ...``).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
