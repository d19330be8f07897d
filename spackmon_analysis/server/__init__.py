"""The embedded Spack Monitor server (FastAPI + SQLAlchemy 2).

``create_app(db_url)`` builds the application; ``LocalMonitor`` runs it on a free loopback port
(or in-process) for tests and notebooks; ``spackmon serve`` runs it from the command line. See
docs/server.md. The server imports no client: ``spackmon_analysis.LocalMonitor`` is this
``LocalMonitor`` plus ``client()`` (docs/ARCHITECTURE.md, "Layers").
"""

from __future__ import annotations

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
