"""The embedded Spack Monitor server (FastAPI + SQLAlchemy 2).

``create_app(db_url)`` builds the application; ``LocalMonitor`` runs it on a free loopback port
(or in-process) for tests and notebooks; ``spackmon serve`` runs it from the command line. See
docs/server.md. The server imports no client: ``spackmon_analysis.LocalMonitor`` is this
``LocalMonitor`` plus ``client()`` (docs/ARCHITECTURE.md, "Layers").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:  # what mypy and readers see; at run time each name is imported on first use
    from .app import create_app
    from .guard import TransportLimits
    from .local import LocalMonitor
    from .queries import read_rows
    from .tables import SCHEMA_VERSION, Store, default_db_url

__all__ = [
    "create_app",
    "LocalMonitor",
    "Store",
    "TransportLimits",
    "read_rows",
    "default_db_url",
    "SCHEMA_VERSION",
]

#: public name -> the module of this package that defines it. Imported on first use (PEP
#: 562), so ``spackmon_analysis.server.commands`` (the ``spackmon`` parser) does not pull in
#: FastAPI and SQLAlchemy until a command runs.
_EXPORTS = {
    "create_app": "app",
    "TransportLimits": "guard",
    "LocalMonitor": "local",
    "read_rows": "queries",
    "SCHEMA_VERSION": "tables",
    "Store": "tables",
    "default_db_url": "tables",
}


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
