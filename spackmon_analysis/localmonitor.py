"""``LocalMonitor``: the embedded server on a loopback port, and clients pointed at it.

For notebooks, the demo and tests::

    from spackmon_analysis import LocalMonitor

    with LocalMonitor() as mon:
        mon.add_user("vsoch")
        client = mon.client("vsoch")  # a SpackMonitorClient with vsoch's credentials

This module sits above both the server and the client (docs/ARCHITECTURE.md, "Layers"): the
server package never imports the client, so the server's own
:class:`spackmon_analysis.server.LocalMonitor` runs the server and manages its users and tokens,
and this subclass adds :meth:`LocalMonitor.client`. ``spackmon_analysis.LocalMonitor`` is this
class.
"""

from __future__ import annotations

from typing import Any

from .client import SpackMonitorClient
from .errors import ConfigError
from .server.local import LocalMonitor as _ServerOnly

__all__ = ["LocalMonitor"]


class LocalMonitor(_ServerOnly):
    """The embedded server on a free loopback port (a context manager), with :meth:`client`.

    Every argument, property and method of :class:`spackmon_analysis.server.LocalMonitor`
    applies (``db_url``, ``port``, ``in_process``, ``transport_limits``, :meth:`add_user`,
    :meth:`rotate_token`, :meth:`session`, ``url``, ``base_url`` ...).
    """

    def client(self, username: str | None = None, **kwargs: Any) -> SpackMonitorClient:
        """A ``SpackMonitorClient`` pointed at this server with ``username``'s credentials.

        Without ``username`` the client has the only user's credentials when there is exactly
        one user, else none. Keyword arguments go to :class:`SpackMonitorClient` (``progress``,
        ``backoff`` ...). Raises :class:`ConfigError` for a user not added through this object.
        """
        if username is None and len(self.tokens) == 1:
            username = next(iter(self.tokens))
        if username is not None:
            if username not in self.tokens:
                raise ConfigError(f"no user {username!r} was added through this LocalMonitor")
            kwargs.setdefault("username", username)
            kwargs.setdefault("token", self.tokens[username])
        kwargs.setdefault("prefix", self.prefix)
        client = SpackMonitorClient(host=self.url, **kwargs)
        self.mount(client.session)  # in-process: the session reaches the application
        return client
