"""``SpackMonitorClient``: the ``ms1`` endpoints, the pull shortcuts and the replay.

The transport (:mod:`.transport`) and the redirects and token flow (:mod:`.auth`) are
its base classes; pulls live in :mod:`.pulls`, the replay engine in :mod:`.replay`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from .. import __version__
from ..errors import (
    AuthError,
    ConfigError,
    InstallPrefixError,
    MonitorError,
    NotFoundError,
    RedirectError,
    SpecFormatError,
    TransportError,
)
from .auth import Authenticated, _dig, _split_host
from .batch import BatchLimits, advertised_batch
from .progress import _show_progress
from .pulls import MAX_PAGES, PaginatedPull
from .replay import replay_runs
from .replayer import iso_utc
from .specfiles import (
    _install_spec_document,
    _looks_like_path,
    _spec_file_document,
    _unwrap_upload_body,
    _with_source,
    spec_document,
)
from .summary import ReplaySummary
from .transport import DEFAULT_MAX_RESPONSE_BYTES, SERVE_URL
from .wire import _ClientAdapter

DEFAULT_HOST = "http://127.0.0.1"
DEFAULT_PREFIX = "ms1"

CREDENTIALS_HINT = (
    "set SPACKMON_USER and SPACKMON_TOKEN in the environment "
    "(or pass username= and token= to SpackMonitorClient)"
)

#: How the error messages tell the user to set the host and the credentials; the
#: ``spackmon`` commands swap in their option names (:data:`CLI_HINTS`).
LIBRARY_HINTS = {
    "host": "pass host= or set SPACKMON_HOST",
    "host_default": f"pass host= or export SPACKMON_HOST={SERVE_URL} (spackmon serve's address)",
    "credentials": CREDENTIALS_HINT,
}
CLI_HINTS = {
    "host": "set --host or SPACKMON_HOST",
    "host_default": (
        "start `spackmon serve`, or pass --host or export SPACKMON_HOST=http://HOST:PORT"
    ),
    "credentials": (
        "pass --user and --token, or set SPACKMON_USER and SPACKMON_TOKEN in the environment"
    ),
}


class SpackMonitorClient(Authenticated):
    """A client of a Spack Monitor server (the reference spack-monitor, or ours).

    Args:
        host: scheme + host (+ port), e.g. ``http://127.0.0.1:5000``; default
            ``$SPACKMON_HOST``, else ``http://127.0.0.1``. A URL that already ends in the
            prefix (``http://127.0.0.1:5000/ms1/``, as ``spackmon serve`` prints it) is the
            same server: the prefix is not added twice. Without a host from either place, a
            refused connection is not retried (the error says to set ``SPACKMON_HOST``).
        prefix: the API prefix, ``ms1`` by default (a 302 from the server may move it).
        token: the user's 40-hex API token; default ``$SPACKMON_TOKEN``.
        username: default ``$SPACKMON_USER``.
        timeout: seconds to connect, and to wait for the next bytes of an answer; a
            write waits ``timeout`` + 1 s per MiB of its body.
        retries: extra attempts after a connection error or a 502/503/504 (and, for
            reads only, after a read timeout: a write is never resent after one).
        backoff: first pause between attempts in seconds, doubled each time.
        session: a ``requests.Session`` to use (the injection seam for tests and
            benchmarks); by default a pooled session owned by the client, on which
            another transport adapter can be mounted (``client.session.mount(prefix,
            adapter)``): the client's retries, caps and token flow stay above it.
        progress: show tqdm progress bars (stderr) on long pulls and replays; default
            (``None``): only in Jupyter or when stderr is a terminal.
        deadline: total seconds for one exchange (sending, waiting, reading the whole
            answer); default ``None``: 4 x its read timeout. Enforced mid-read on the
            client's own connections; through an injected session or a mounted transport
            adapter, between 64 KiB chunks of the body.
        max_response_bytes: the largest answer accepted, on the wire and decoded
            (default 256 MiB); a larger one raises
            :class:`~spackmon_analysis.errors.MonitorError` without being held.
        auth_hosts: origins (``https://auth.example.org``) or host names besides the
            server's own to which the Basic API token may be sent when a 401 names
            their realm; default ``$SPACKMON_AUTH_HOSTS`` (comma- or space-separated),
            else none: only the server's own origin.
        max_pages: the most pages one pull fetches (default 10,000); a pull that would
            need more raises :class:`~spackmon_analysis.errors.MonitorError`.
    """

    def __init__(
        self,
        host: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        token: str | None = None,
        username: str | None = None,
        *,
        timeout: float = 30,
        retries: int = 3,
        backoff: float = 0.5,
        session: requests.Session | None = None,
        progress: bool | None = None,
        deadline: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        auth_hosts: Sequence[str] | None = None,
        max_pages: int = MAX_PAGES,
    ) -> None:
        #: True when neither ``host`` nor ``$SPACKMON_HOST`` named the server: a refused
        #: connection then fails at once (no retries) saying what to set.
        self.host_is_default = not (host or os.environ.get("SPACKMON_HOST"))
        host = host or os.environ.get("SPACKMON_HOST") or DEFAULT_HOST
        self.prefix = (prefix if prefix is not None else DEFAULT_PREFIX).strip("/")
        self.host = _split_host(host, self.prefix)
        self.token = token if token is not None else os.environ.get("SPACKMON_TOKEN")
        self.username = username if username is not None else os.environ.get("SPACKMON_USER")
        if retries < 0:
            raise ConfigError("retries must be >= 0")
        if deadline is not None and deadline <= 0:
            raise ConfigError("deadline must be > 0 seconds (or None for 4 x the timeout)")
        if max_response_bytes < 1:
            raise ConfigError("max_response_bytes must be >= 1")
        if max_pages < 1:
            raise ConfigError("max_pages must be >= 1")
        if auth_hosts is None:
            auth_hosts = os.environ.get("SPACKMON_AUTH_HOSTS", "").replace(",", " ").split()
        if isinstance(auth_hosts, str):
            auth_hosts = [auth_hosts]
        self.timeout = timeout
        self.deadline = deadline
        self.max_response_bytes = int(max_response_bytes)
        self.auth_hosts = tuple(auth_hosts)
        self.max_pages = int(max_pages)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.progress = progress
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = _ClientAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        agent = session.headers.get("User-Agent")
        if not agent or str(agent).startswith("python-requests/"):  # requests' own default
            session.headers["User-Agent"] = f"spackmon-analysis/{__version__}"
        self.session = session
        #: Prepare requests directly (own session only; an injected session goes through
        #: ``Session.request`` so that its own settings all apply).
        self._fast_path = self._owns_session
        if self._owns_session:
            self._read_environment_settings()
        self.bearer: str | None = None
        #: How error messages say to set the host and credentials (see CLI_HINTS).
        self._hints = dict(LIBRARY_HINTS)
        self._lock = threading.Lock()
        self._auth_lock = threading.Lock()
        self._batch: BatchLimits | None = None
        self._batch_checked = False
        #: HTTP exchanges made (every attempt, redirect and token request counts).
        self.request_count = 0
        #: Times the token flow ran (first authentication plus re-authentications).
        self.auth_count = 0
        #: Attempts repeated after a connection error or a 502/503/504.
        self.retry_count = 0

    def __repr__(self) -> str:
        who = self.username or "anonymous"
        auth = "bearer held" if self.bearer else ("credentials set" if self.token else "no token")
        return f"<SpackMonitorClient {self.baseurl}/ user={who} ({auth})>"

    def close(self) -> None:
        """Close the pooled connections (when the client created its session)."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> SpackMonitorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- endpoints
    def service_info(self) -> dict[str, Any]:
        """``GET /ms1/``: the service description (public)."""
        return self._call("GET", "")

    def upload_specfile(self, filename: str | Path, spack_version: str | None = None) -> dict:
        """Upload a spec file (JSON, YAML, ``.sig``, gzip; any format era).

        The file is parsed locally first, so a malformed one raises
        :class:`~spackmon_analysis.errors.SpecFormatError` naming it before any
        request. ``spack_version`` defaults to the file's own (upload bodies carry it).
        Returns the server's envelope: ``data.spec`` and ``data.created`` (``code``
        201 when new, 200 when it already existed).
        """
        try:
            # read once, under the upload rules (localfiles); the document checked is sent
            doc = _spec_file_document(filename)
        except SpecFormatError as exc:
            raise _with_source(exc, filename) from exc
        return self._upload(doc, spack_version)

    def upload_spec(self, doc: Any, spack_version: str | None = None) -> dict:
        """Upload a spec document (a parsed ``dict``/``list``, JSON/YAML text, or a path).

        Validated with :func:`~spackmon_analysis.spec.load_spec` first; see
        :meth:`upload_specfile` for the answer.
        """
        if _looks_like_path(doc):
            return self.upload_specfile(doc, spack_version)
        return self._upload(spec_document(doc), spack_version)  # the document checked

    def _upload(self, doc: Any, spack_version: str | None) -> dict:
        return self._call("POST", "specs/new/", self._spec_body(doc, spack_version))

    @staticmethod
    def _spec_body(doc: Any, spack_version: str | None) -> dict:
        """The ``specs/new`` body of a checked document (an upload body keeps its version)."""
        spec, own_version = _unwrap_upload_body(doc)
        return {"spec": spec, "spack_version": spack_version or own_version}

    def batch_limits(self, *, refresh: bool = False) -> BatchLimits | None:
        """The batch extension the server advertises in its service info (our server's
        ``POST /ms1/batch/``), or None for any other server (plain ms1). Asked once per
        client (``refresh`` asks again). A service info that is not JSON or answers an
        error means no extension; no answer at all raises
        :class:`~spackmon_analysis.errors.TransportError`."""
        if self._batch_checked and not refresh:
            return self._batch
        try:
            info = self.service_info()
        except (TransportError, AuthError, RedirectError):
            raise
        except MonitorError:
            info = None
        self._batch = advertised_batch(info)
        self._batch_checked = True
        return self._batch

    def new_build(
        self,
        full_hash: str,
        spack_version: str | None = None,
        *,
        host_os: str | None = None,
        platform: str | None = None,
        host_target: str | None = None,
        hostname: str | None = None,
        kernel_version: str | None = None,
        tags: str | Iterable[str] | None = None,
        spec: Any = None,
        environment: Mapping[str, Any] | None = None,
    ) -> dict:
        """``POST /ms1/builds/new/``: get or create the build of ``full_hash`` here.

        The five environment fields come from the keyword arguments, else from
        ``environment`` (e.g. ``BuildRecord.environment()`` or an
        ``install_environment.json``). ``tags`` is a list or a comma-separated string;
        ``spec`` (a document, or a path) is imported by the server first. Returns the
        envelope: ``data.build.build_id``, ``data.build_created``.
        """
        env = dict(environment or {})
        body: dict[str, Any] = {
            "host_os": host_os or env.get("host_os"),
            "platform": platform or env.get("platform"),
            "host_target": host_target or env.get("host_target"),
            "hostname": hostname or env.get("hostname"),
            "kernel_version": kernel_version or env.get("kernel_version"),
            "spack_version": spack_version or env.get("spack_version"),
            "full_hash": full_hash,
        }
        if tags:
            body["tags"] = tags if isinstance(tags, str) else ",".join(tags)
        if spec is not None:
            body["spec"], _ = _unwrap_upload_body(spec_document(spec))
        return self._call("POST", "builds/new/", body)

    def update_build(self, build_id: int, status: str, *, run_time: Any = None) -> dict:
        """``POST /ms1/builds/update/``: set a build's status (SUCCESS, FAILED, ...).

        ``run_time`` (a ``datetime``, naive = UTC, or ISO 8601 text): the date of the
        save-local run this status comes from; the server then sets the status of that run's
        attempt (docs/server.md, "Attempts"), not of the build's latest one."""
        body = {"build_id": build_id, "status": status}
        return self._call("POST", "builds/update/", _with_run_time(body, run_time))

    def update_phase(
        self,
        build_id: int,
        phase_name: str,
        status: str,
        output: str | None = None,
        *,
        run_time: Any = None,
    ) -> dict:
        """``POST /ms1/builds/phases/update/``: upsert one phase and its log output
        (``run_time``: as for :meth:`update_build`)."""
        body = {"build_id": build_id, "phase_name": phase_name, "status": status, "output": output}
        return self._call("POST", "builds/phases/update/", _with_run_time(body, run_time))

    def analyze(self, build_id: int, metadata: Mapping[str, Any]) -> dict:
        """``POST /ms1/analyze/builds/``: attach analyzer metadata (replaces earlier)."""
        return self._call("POST", "analyze/builds/", {"build_id": build_id, "metadata": metadata})

    def analyze_install(
        self, prefix: str | Path, *, build_id: int | None = None, tags: str | None = None
    ) -> dict:
        """Send an install prefix's ``.spack`` metadata as analyzer results.

        Reads environment variables (``spack-build-env.txt``), configure arguments
        and the install manifest; unless ``build_id`` is given, gets (or creates) the
        build first from the prefix's spec and ``install_environment.json``. Returns
        the analyze envelope with ``data.build``.
        """
        from ..loaders.installs import read_install_prefix

        try:
            record = read_install_prefix(prefix)
        except InstallPrefixError as exc:
            given = Path(prefix)
            if given.is_file():
                raise InstallPrefixError(
                    "is a file, not an install prefix: pass the prefix directory (the one "
                    f"holding .spack/), its .spack folder or a spack-stage directory ({exc})",
                    path=str(prefix),
                ) from exc
            raise
        build = record.build
        if record.skipped:
            import warnings

            listed = "; ".join(f"{path}: {reason}" for path, reason in record.skipped)
            warnings.warn(
                f"analyze_install({str(prefix)!r}): left out {len(record.skipped)} file(s) "
                f"the upload rules refuse: {listed}",
                UserWarning,
                stacklevel=2,
            )
        if build_id is None:
            spec_doc = _install_spec_document(record.path)
            envelope = self.new_build(
                build.full_hash,
                build.spack_version,
                environment=build.environment(),
                tags=tags or (list(build.tags) or None),
                spec=spec_doc,
            )
            build_id = int(_dig(envelope, "data", "build", "build_id", what="builds/new"))
        metadata: dict[str, Any] = {
            "environment_variables": dict(build.environment_variables or {}),
            "install_files": record.install_files_absolute(),
        }
        if build.config_args is not None:
            metadata["config_args"] = build.config_args
        return self.analyze(build_id, metadata)

    def get_specs_by_name(self, name: str) -> Any:
        """``GET /ms1/specs/name/<name>/``: the specs with that package name (public).

        Returns the list of spec rows (the envelope's ``data.specs``); a server
        that answers a bare list or another shape gets its JSON passed through.
        A name that cannot be a package name (empty, or with a ``/`` such as Spack's
        ``name/hash`` syntax) raises :class:`~spackmon_analysis.errors.ConfigError`
        before any request.
        """
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"get_specs_by_name({name!r}): give a package name such as 'zlib'")
        if "/" in name:
            head = name.split("/", 1)[0] or "zlib"
            raise ConfigError(
                f"get_specs_by_name({name!r}): a package name cannot contain '/' "
                f"(Spack's 'name/hash' syntax is not a name); pass the name alone, e.g. "
                f"{head!r}, and pick the spec by its full_hash in the rows"
            )
        try:
            payload = self._call("GET", f"specs/name/{quote(name, safe='')}/")
        except NotFoundError as exc:
            raise NotFoundError(
                f"{exc} (no specs named {name!r}, or the server has no specs/name/ route)",
                method=exc.method,
                url=exc.url,
                status_code=exc.status_code,
                server_message=exc.server_message,
                response=exc.response,
            ) from exc
        if isinstance(payload, Mapping) and "data" in payload:
            data = payload["data"]
            if isinstance(data, Mapping) and isinstance(data.get("specs"), list):
                return data["specs"]
            return data
        return payload

    # ------------------------------------------------------------------- pulls
    def pull(
        self, route: str, *, page_size: int = 1000, progress: bool | None = None, **filters: Any
    ) -> PaginatedPull:
        """A lazy, paginated view of data API route ``/api/<route>/`` with filters."""
        return PaginatedPull(
            self,
            route,
            filters,
            page_size=page_size,
            progress=_show_progress(progress, self.progress),
            max_pages=self.max_pages,
        )

    def builds(self, **filters: Any) -> PaginatedPull:
        """Builds (filters: ``status``, ``spec_name``, ``tag``, ``owner``, ``full_hash``)."""
        return self.pull("builds", **filters)

    def specs(self, **filters: Any) -> PaginatedPull:
        """Specs (filters: ``name``, ``full_hash``, ``spack_version``, ``is_root``)."""
        return self.pull("specs", **filters)

    def phases(self, **filters: Any) -> PaginatedPull:
        """Build phases (filters: ``build``, ``status``, ``name``; ``output=1`` adds the logs,
        which list pages leave out by default; :meth:`phase` fetches one phase whole)."""
        return self.pull("buildphases", **filters)

    def phase(self, phase_id: int) -> dict[str, Any]:
        """One build phase, whole (with its ``output``): ``GET /api/buildphases/<id>/``."""
        return self._json(self._request("GET", f"{self._api_url('buildphases')}{int(phase_id)}/"))

    def errors(self, **filters: Any) -> PaginatedPull:
        """Build-log errors (filters: ``build``, ``phase``)."""
        return self.pull("builderrors", **filters)

    def warnings(self, **filters: Any) -> PaginatedPull:
        """Build-log warnings (filters: ``build``, ``phase``)."""
        return self.pull("buildwarnings", **filters)

    # ------------------------------------------------------------------ replay
    def upload_local_save(
        self,
        dirname: str | Path | Sequence[str | Path],
        progress: bool | None = None,
        *,
        workers: int = 4,
        batch: bool = True,
    ) -> ReplaySummary:
        """Replay ``--monitor-save-local`` output to this server.

        ``dirname`` is a run directory, a directory of runs (``~/.spack/reports/
        monitor/``) or a list of either; runs go in timestamp order. Per run: specs,
        then each build from its own metadata file, then every phase and status file
        to the server id of its own build. Idempotent: a second replay creates
        nothing (:class:`ReplaySummary` says exactly what created, updated and present
        mean). A bad file is skipped and named in ``summary.problems``; the rest uploads.

        Each run is sent with its date (``run_time``: the time in the run's name, else its
        earliest phase start, as ``load_save_local`` dates it), so a server that keeps
        attempts stores one attempt per run of each build, dated by the run: an older run
        replayed after newer ones becomes an earlier attempt and leaves the build row (its
        latest attempt) as it was (docs/server.md, "Attempts"). A server without attempts
        sets each build to the state in its files, runs oldest first. Every overwrite of
        what the server held is listed in ``summary.changes`` and noted at the end of
        ``repr(summary)``.
        Specs go one at a time; each build's requests (``builds/new``, its phases in
        order, then its status) form a chain, and up to ``workers`` chains run at once
        on the pooled connections, each starting as soon as a spec document holding its
        build is on the server (so they overlap later spec uploads). The first build of
        each build environment is answered before the others in it are sent.

        With ``batch`` (the default) the replay first asks the service info; when the
        server advertises our batch extension (``spackmon serve`` does), the same
        requests travel many to a request, each batch in one transaction on the server,
        with the same answers per file and the same summary (the specs first, then groups
        of 100 builds: their ``builds/new``, then their phases and statuses; up to
        ``workers`` groups at once). Any other server gets the requests one by one.
        ``batch=False`` never uses it.

        Raises:
            SaveLocalError: a path holds no save-local files.
            TransportError / AuthError: the server is unreachable (or went away
                mid-replay) or refuses the credentials. The message says what was
                uploaded and what was not, per run with file names; the exception carries
                ``summary`` (the partial summary), ``uploaded`` and ``not_uploaded`` (file
                paths). Running the same replay again uploads the rest, duplicating nothing.
        """
        from ..loaders.savelocal import read_save_local

        paths = [dirname] if isinstance(dirname, str | Path) else list(dirname)
        runs = []
        for path in paths:
            runs.extend(read_save_local(path))
        show = _show_progress(progress, self.progress)
        return replay_runs(self, runs, show=show, workers=workers, batch=batch)

    def upload(
        self,
        *paths: str | Path,
        dag: str | Path | Sequence[Any] | None = None,
        spack_version: str | None = None,
        hostname: str | None = None,
        kernel_version: str | None = None,
        tags: str | Iterable[str] | None = None,
        progress: bool | None = None,
        workers: int = 4,
        batch: bool = True,
    ) -> ReplaySummary:
        """Send today's Spack data to this server through the ``ms1`` protocol.

        ``paths``: anything :func:`spackmon_analysis.load` reads: JUnit and CDash reports
        (``spack install --log-format junit|cdash``), install trees, prefixes and stage
        directories, the install database (``.spack-db``), ``spack.lock`` files and
        environments, save-local runs, spec files (the DAG), or a folder holding several.
        ``dag``: more DAG sources (spec files, ``spack.lock``, install trees) that find the
        packages a report leaves out (sent as ``FAILED`` builds with no phase and the tag
        ``blocked``) and give the reports' packages their full specs. ``spack_version``,
        ``hostname``, ``kernel_version``: what to send where the source does not say (a
        JUnit report carries neither; default ``"unknown"``); ``tags``: added to every
        build's tags.

        Per build: its spec (documents written from the loaded DAG), ``builds/new``, its
        phases in order with their logs (the server derives the errors and warnings from
        them) and its status; what the protocol cannot carry or the source does not
        identify is named in ``summary.left_out``, the loaders' notes in ``summary.notes``.
        Idempotent like :meth:`upload_local_save`: the same files sent twice add nothing.
        ``batch``: as for :meth:`upload_local_save` (the server's batch extension when it
        advertises one; ``False``: one plain ms1 request at a time). Decisions and what a
        server copy loses: ``docs/client.md``.

        Raises:
            ConfigError: a path is none of the kinds above (or does not exist).
            ReportError / SpecFormatError: a malformed report or spec file, naming it.
            TransportError / AuthError: as :meth:`upload_local_save`.
        """
        from .upload import upload_sources

        if dag is None:
            dags: list[Any] = []
        elif isinstance(dag, str | Path):
            dags = [dag]
        else:
            dags = list(dag)
        show = _show_progress(progress, self.progress)
        return upload_sources(
            self,
            list(paths),
            dag=dags,
            spack_version=spack_version,
            hostname=hostname,
            kernel_version=kernel_version,
            tags=tags,
            show=show,
            workers=workers,
            batch=batch,
        )


def _with_run_time(body: dict[str, Any], run_time: Any) -> dict[str, Any]:
    """``body`` with the ``run_time`` field a replay sends (ISO 8601 UTC text), if any."""
    if run_time is None:
        return body
    return {**body, "run_time": iso_utc(run_time)}
