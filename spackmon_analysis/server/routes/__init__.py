"""The application's routes, one router per concern.

* :mod:`.service`: ``GET /ms1`` (redirect), ``GET /ms1/`` (service info), ``GET /ms1/auth/token/``;
* :mod:`.protocol`: the ms1 writes (``specs/new``, ``builds/new``, ``builds/update``,
  ``builds/phases/update``, ``analyze/builds``) and ``GET /ms1/specs/name/<name>/``;
* :mod:`.data`: the read-only data API under ``/api/``.

The protocol routers are included under the protocol prefix (``/ms1``) by ``create_app``; every
route reads the shared :class:`~spackmon_analysis.server.state.MonitorState` through
:data:`~spackmon_analysis.server.state.State`.
"""
