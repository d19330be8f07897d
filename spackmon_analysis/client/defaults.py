"""The client's constants that the ``spackmon`` parser shows in its help: kept apart from the
modules that import ``requests``, so that building the parser (``spackmon --help``) imports no
HTTP library. :mod:`.transport` and :mod:`.pulls` re-export them where they were defined."""

from __future__ import annotations

#: Where the default ``spackmon serve`` listens (named in "cannot connect" messages).
SERVE_URL = "http://127.0.0.1:5000"

#: Data API routes behind the pull shortcuts.
PULL_ROUTES = {
    "builds": "builds",
    "specs": "specs",
    "phases": "buildphases",
    "errors": "builderrors",
    "warnings": "buildwarnings",
}
