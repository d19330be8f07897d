"""Lazy re-exports of a package's public names (PEP 562), shared by the package
``__init__`` modules (``spackmon_analysis``, ``spackmon_analysis.client``,
``spackmon_analysis.server``).

A name is imported from its module on first use and then stored in the package's namespace,
so later lookups skip the hook; the ``spackmon`` parser thus starts without FastAPI,
SQLAlchemy, pandas or requests. Layer 0: it imports nothing of the package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the package whose ``globals()`` is
    ``namespace``: ``exports`` maps a public name to the submodule (relative to the package)
    that defines it. An unknown name raises ``AttributeError`` naming the package."""
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
