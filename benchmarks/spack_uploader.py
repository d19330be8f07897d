"""A faithful model of Spack's own uploader: ``spack monitor upload DIR`` of Spack 0.17/0.18.

Written for the benchmarks from the behaviour of ``lib/spack/spack/monitor.py`` (Spack 0.17 and
0.18; not copied), the baseline that ``bench_client.py`` measures our client against:

- stdlib ``urllib.request`` only: every request is a new ``urlopen``, so a new TCP connection
  (urllib sends ``Connection: close``), one request at a time; a body is the JSON text encoded as
  ASCII with urllib's default form content type; Spack's JSON writer pretty-prints (``indent``
  2, ``", "``/``": "`` separators) and its reader runs an ``object_hook`` on every object;
- ``get_client`` first asks the service info (``GET /ms1/``); the first protected request
  goes without credentials, gets the 401, the client asks ``GET <realm>`` with Basic
  ``SPACKMON_USER:SPACKMON_TOKEN`` and retries it with the bearer, which it keeps;
- the files in Spack's order: ``os.walk`` of the directory; in each folder holding a
  ``build-metadata*`` file: every ``spec*`` file (``specs/new/``), every ``build-metadata*``
  file (``builds/new/``, the answer's build id kept under the file's local id), every
  ``build*phase*`` file (``builds/phases/update/`` with the server's build id), every
  ``build*status*`` file (``builds/update/``), each group in ``glob``'s order (the directory's
  own order, unsorted), each file read just before it is sent; Spack prints
  ``==> Reading <name>`` for every file (here into a sink).

What it leaves out: Spack's own start-up (``spack`` imports and configuration, about a second
per command) and its colour terminal output; both would only make the baseline slower.
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.request
from glob import glob
from typing import Any, TextIO

_CHALLENGE_PAIR = re.compile('([a-zA-z]+)="(.+?)"')  # Spack's own pattern, A-z range and all


def _spack_dump(data: Any) -> str:
    return json.dumps(data, indent=2, separators=(",", ": "))


def _spack_object_hook(obj: dict) -> dict:
    return obj  # Spack's reader calls a (no-op on Python 3) hook on every object


def _spack_load(text: str) -> Any:
    return json.loads(text, object_hook=_spack_object_hook)


class SpackUploader:
    """``spack monitor upload DIR`` as Spack 0.17/0.18 does it (module docstring).

    ``requests`` counts the HTTP exchanges (the 401 and the token request included) and
    ``trace`` lists them as ``(method, path under the host, status)``; ``log`` is an open text
    file for Spack's ``==> Reading`` lines (default: a sink).
    """

    def __init__(
        self,
        host: str,
        username: str,
        token: str,
        prefix: str = "ms1",
        log: TextIO | None = None,
    ) -> None:
        self.baseurl = f"{host}/{prefix.strip('/')}"
        self.username = username
        self.token = token
        self.headers: dict[str, str] = {}
        self.requests = 0
        self.trace: list[tuple[str, str, int]] = []
        self._host = host
        self._log = log if log is not None else open(os.devnull, "w")  # noqa: SIM115

    # -------------------------------------------------------------- one request
    def _prepare(self, endpoint: str, data: Any, headers: dict | None) -> urllib.request.Request:
        auth = self.headers.get("Authorization")
        self.headers = {"Authorization": auth} if auth else {}
        headers = headers or self.headers
        url = endpoint if endpoint.startswith("http") else f"{self.baseurl}/{endpoint}"
        body = None
        if data:
            if not isinstance(data, str):
                data = _spack_dump(data)
            body = data.encode("ascii")
        return urllib.request.Request(url, data=body, headers=headers)

    def _issue(self, request: urllib.request.Request, retry: bool = True) -> Any:
        self.requests += 1
        path = request.full_url[len(self._host) :]
        try:
            response = urllib.request.urlopen(request)
        except urllib.error.HTTPError as err:
            self.trace.append((request.get_method(), path, err.code))
            if err.code == 401 and retry and self._authenticate(err):
                assert request.data is not None
                again = self._prepare(
                    err.url, _spack_load(request.data.decode("utf-8")), self.headers
                )
                return self._issue(again, retry=False)
            raise RuntimeError(
                f"{request.get_method()} {request.full_url} -> {err.code}: "
                + err.read().decode("utf8", "ignore")
            ) from err
        self.trace.append((request.get_method(), path, response.code))
        return response

    def do_request(self, endpoint: str, data: Any = None, headers: dict | None = None) -> Any:
        response = self._issue(self._prepare(endpoint, data, headers))
        with response:
            if response.code in (200, 201):
                return _spack_load(response.read().decode("utf-8"))
        raise RuntimeError(f"{endpoint}: unexpected status {response.code}")

    def _authenticate(self, challenge: urllib.error.HTTPError) -> bool:
        raw = challenge.headers.get("Www-Authenticate")
        if not raw:
            return False
        basic = base64.b64encode(f"{self.username}:{self.token}".encode()).decode("utf-8")
        self.headers["Authorization"] = f"Basic {basic}"
        pairs = {key.capitalize(): value for key, value in _CHALLENGE_PAIR.findall(raw)}
        headers = dict(self.headers)
        headers.update(
            {"service": pairs["Service"], "Accept": "application/json", "User-Agent": "spackmoncli"}
        )
        answer = self.do_request(pairs["Realm"], headers=headers)
        token = answer.get("token")
        if not token:
            return False
        self.headers["Authorization"] = f"Bearer {token}"
        return True

    # -------------------------------------------------------------- the upload
    def _read(self, pattern: str):
        for filename in glob(pattern):
            print(f"==> Reading {os.path.basename(filename)}", file=self._log)
            with open(filename) as handle:
                yield _spack_load(handle.read())

    def upload_local_save(self, dirname: str | os.PathLike) -> None:
        """``spack monitor upload DIR``: the service info, then every run folder found."""
        self.do_request("")  # get_client asks the service info first
        dirname = os.path.abspath(dirname)
        for subdir, _dirs, files in os.walk(dirname):
            root = os.path.join(dirname, subdir)
            if not glob(f"{root}{os.sep}build-metadata*") or not files:
                continue
            self._upload_run(root)

    def _upload_run(self, folder: str) -> None:
        for spec in self._read(f"{folder}{os.sep}spec*"):
            self.do_request("specs/new/", data=_spack_dump(spec))
        answers = {}
        for metafile in glob(f"{folder}{os.sep}build-metadata*"):
            with open(metafile) as handle:
                data = _spack_load(handle.read())
            answer = self.do_request("builds/new/", data=_spack_dump(data))
            local_id = (
                os.path.basename(metafile).replace(".json", "").replace("build-metadata-", "")
            )
            answers[local_id] = answer
        for phase in self._read(f"{folder}{os.sep}build*phase*"):
            phase["build_id"] = answers[phase["build_id"]]["data"]["build"]["build_id"]
            self.do_request("builds/phases/update/", data=_spack_dump(phase))
        for status in self._read(f"{folder}{os.sep}build*status*"):
            status["build_id"] = answers[status["build_id"]]["data"]["build"]["build_id"]
            self.do_request("builds/update/", data=_spack_dump(status))
