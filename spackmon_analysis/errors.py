"""One exception tree for the whole library.

Every error the library raises on purpose is a :class:`SpackmonError`, so a caller
can catch the family with one ``except``; each subclass names what went wrong::

    SpackmonError                  base of everything raised on purpose
    ├── SpecFormatError            a spec document is malformed (names file + JSON path)
    ├── SaveLocalError             a --monitor-save-local directory/file is unusable
    ├── InstallPrefixError         an install prefix / .spack folder is unusable
    ├── ReportError                a JUnit / CDash report is malformed (names file + element)
    ├── LogParseError              a build log cannot be read
    ├── RulesError                 the failure-class rules file is invalid
    ├── ConfigError                bad option, argument, database URL or environment setting
    ├── UnknownKeyError            a build, package, run or compiler that is not in the data
    ├── SchemaVersionError         the database schema is newer/older than this server
    └── MonitorError               talking to a monitor server failed (carries request/response)
        ├── TransportError         no HTTP answer at all (refused, timeout, reset) after retries
        ├── RedirectError          a 301/302 without a Location header
        └── HTTPStatusError        the server answered with a status the call did not expect
            ├── BadRequestError    400 (and other 4xx not listed below)
            ├── AuthError          401/403, or credentials missing for a protected call
            ├── NotFoundError      404
            ├── PayloadTooLargeError 413
            └── ServerError        5xx

``MonitorError`` instances carry ``method``, ``url``, ``status_code`` (None when no
response arrived) and ``server_message`` (the ``message`` field of the server's JSON
envelope, or the response text), so a notebook can show exactly which request failed.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SpackmonError",
    "SpecFormatError",
    "SaveLocalError",
    "InstallPrefixError",
    "ReportError",
    "LogParseError",
    "RulesError",
    "ConfigError",
    "UnknownKeyError",
    "SchemaVersionError",
    "MonitorError",
    "TransportError",
    "RedirectError",
    "HTTPStatusError",
    "BadRequestError",
    "AuthError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ServerError",
]


class SpackmonError(Exception):
    """Base class of every error this library raises on purpose."""


class SpecFormatError(SpackmonError, ValueError):
    """A spec document is malformed.

    ``source`` names the file (or ``<string>``/``<object>``), ``path`` the JSON path
    of the offending element (for example ``nodes[3].dependencies[1]``) and
    ``reason`` what is wrong with it.
    """

    def __init__(self, reason: str, *, source: str | None = None, path: str | None = None):
        self.reason = reason
        self.source = source
        self.path = path
        where = ""
        if source:
            where += f"{source}: "
        if path:
            where += f"{path}: "
        super().__init__(f"{where}{reason}")


class SaveLocalError(SpackmonError, ValueError):
    """A ``--monitor-save-local`` directory or one of its files cannot be used.

    ``filename`` names the file (or directory) at fault.
    """

    def __init__(self, message: str, *, filename: str | None = None):
        self.filename = filename
        super().__init__(f"{filename}: {message}" if filename else message)


class InstallPrefixError(SpackmonError, ValueError):
    """An install prefix (or its ``.spack`` metadata folder) cannot be used."""

    def __init__(self, message: str, *, path: str | None = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class ReportError(SpackmonError, ValueError):
    """A ``spack install --log-format junit|cdash`` report cannot be used.

    ``filename`` names the file (or report directory), ``element`` the XML element at
    fault as a path (``testsuites/testsuite[0]/testcase[5]@time``; ``None`` when the whole
    file is at fault) and ``reason`` what is wrong with it.
    """

    def __init__(self, reason: str, *, filename: str | None = None, element: str | None = None):
        self.reason = reason
        self.filename = filename
        self.element = element
        where = ""
        if filename:
            where += f"{filename}: "
        if element:
            where += f"<{element}>: "
        super().__init__(f"{where}{reason}")


class LogParseError(SpackmonError, ValueError):
    """A build log cannot be read (missing file, undecodable gzip...)."""


class RulesError(SpackmonError, ValueError):
    """The failure-class rules file is invalid (names the rule at fault)."""


class ConfigError(SpackmonError, ValueError):
    """A bad option, database URL or environment setting.

    ``path``: the file or folder the error is about, when it is about one (``load`` sets it
    for a path that is missing or no source it knows); else ``None``.
    """

    path: str | None = None


class UnknownKeyError(SpackmonError, LookupError):
    """A lookup in loaded data found nothing (or more than one match for a prefix).

    Raised by ``MonitorData.build(key)`` and ``Explorer.select(...)``; the message names
    the key and, where few, the valid choices. Also a :class:`LookupError`, so
    ``except KeyError``-style code written against dicts keeps working via ``LookupError``.
    """


class SchemaVersionError(SpackmonError):
    """The database was written by a different schema version than this server's."""


class MonitorError(SpackmonError):
    """Talking to a Spack Monitor server failed.

    Attributes: ``method``, ``url``, ``status_code`` (``None`` when no response
    arrived), ``server_message`` (the server's ``message`` or response text) and
    ``response`` (the ``requests.Response`` when there was one).

    The fatal error of an interrupted replay or upload also carries ``summary`` (the partial
    ``ReplaySummary``), ``uploaded`` and ``not_uploaded`` (file paths); on any other error
    these three are ``None``.
    """

    #: Set on the fatal error of a replay/upload (``client.summary._interrupted``), else None.
    summary: Any = None
    uploaded: list[str] | None = None
    not_uploaded: list[str] | None = None

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        status_code: int | None = None,
        server_message: str | None = None,
        response: object | None = None,
    ):
        self.method = method
        self.url = url
        self.status_code = status_code
        self.server_message = server_message
        self.response = response
        super().__init__(message)


class TransportError(MonitorError):
    """No HTTP answer at all (connection refused, timeout, reset) after the retries."""


class RedirectError(MonitorError):
    """The server answered 301/302 without a ``Location`` header."""


class HTTPStatusError(MonitorError):
    """The server answered with a status code the call did not expect."""


class BadRequestError(HTTPStatusError):
    """400 (or another 4xx without a more specific class): the request was rejected."""


class AuthError(HTTPStatusError):
    """401/403, or credentials missing for a call that needs them."""


class NotFoundError(HTTPStatusError):
    """404: the build, spec or route does not exist."""


class PayloadTooLargeError(HTTPStatusError):
    """413: the request body is larger than the server accepts."""


class ServerError(HTTPStatusError):
    """5xx: the server failed (after the retries, for 502/503/504)."""
