"""Pulls: lazy, paginated views of the data API (``/api/<route>/``) and their columns."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..errors import ConfigError, MonitorError
from ..records import DATA_API_FIELDS
from .auth import Authenticated, _dig
from .defaults import PULL_ROUTES as PULL_ROUTES  # data API routes behind the pull shortcuts
from .progress import _progress_bar

#: Default cap on the pages one pull fetches (with ``page_size=1000``: 10 million rows).
MAX_PAGES = 10_000


#: The fields of each data API route's rows, in the server's order
#: (:data:`spackmon_analysis.records.DATA_API_FIELDS`, the one definition). An empty pull's
#: ``to_frame()`` gets these columns. ``buildphases`` rows carry ``output`` only when the pull
#: has ``output=1``.
ROUTE_COLUMNS = DATA_API_FIELDS


class PaginatedPull(Sequence):
    """A lazy, paginated view of one data API route (PyGithub ``PaginatedList`` style).

    ``len()`` reads ``count`` from the first page; indexing and iteration fetch pages
    of up to ``page_size`` rows (``limit``/``offset``) only when needed and cache them. A page
    may hold fewer rows than asked (the server bounds a page in bytes too): the next page
    starts after the last row received, until ``count`` rows have been read;
    :meth:`to_frame` builds a DataFrame. Long pulls show a tqdm bar on stderr unless
    ``progress=False``.

    Iteration ends after ``count`` rows (the first page's count stands), or, for a server
    that gives no count, at a short page; a pull that still has rows after ``max_pages``
    pages (default: the client's ``max_pages``) raises
    :class:`~spackmon_analysis.errors.MonitorError` instead of following a server that
    never stops.
    """

    def __init__(
        self,
        client: Authenticated,
        route: str,
        filters: Mapping[str, Any] | None = None,
        *,
        page_size: int = 1000,
        progress: bool = True,
        max_pages: int | None = None,
    ) -> None:
        if page_size < 1:
            raise ConfigError("page_size must be >= 1")
        if max_pages is None:
            max_pages = getattr(client, "max_pages", MAX_PAGES)
        if max_pages < 1:
            raise ConfigError("max_pages must be >= 1")
        self.max_pages = int(max_pages)
        self.client = client
        self.route = route.strip("/")
        self.filters = {k: _param(v) for k, v in (filters or {}).items() if v is not None}
        self.page_size = int(page_size)
        self.progress = progress
        self._pages: dict[int, list[dict[str, Any]]] = {}
        self._count: int | None = None
        #: True when ``_count`` is the server's ``count`` (not the first page's length).
        self._count_given = False

    @property
    def url(self) -> str:
        """The route's URL (without the query string)."""
        return self.client._api_url(self.route)

    def _fetch(self, offset: int) -> list[dict[str, Any]]:
        """The page of rows starting at row ``offset`` (cached by its offset)."""
        if offset in self._pages:
            return self._pages[offset]
        params = dict(self.filters, limit=self.page_size, offset=offset)
        response = self.client._request("GET", self.url, params=params)
        payload = self.client._json(response)
        count: object
        if isinstance(payload, list):  # a server that ignores pagination
            rows, count = payload, len(payload)
            self._pages = {0: rows} if offset == 0 else self._pages
        else:
            rows = _dig(payload, "results", what=f"GET {self.url}")
            count = payload.get("count") if isinstance(payload, Mapping) else None
            if not isinstance(rows, list):
                raise MonitorError(f"GET {self.url}: 'results' is not a list")
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            if self._count is None or not self._count_given:
                self._count = count  # the first count stands: a growing one ends no pull
                self._count_given = True
        self._pages[offset] = rows
        return rows

    def __len__(self) -> int:
        if self._count is None:
            rows = self._fetch(0)
            if self._count is None:
                self._count = len(rows)
        return self._count

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"{self.route} index {index} out of range ({n} rows)")
        for start, rows in self._pages.items():
            if start <= index < start + len(rows):
                return rows[index - start]
        rows = self._fetch(index)
        if not rows:
            raise IndexError(f"{self.route} index {index}: the server returned fewer rows")
        return rows[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        total = len(self)
        counted = self._count_given
        bar = _progress_bar(total, self.route, self.progress and total > self.page_size, unit="row")
        try:
            offset = 0
            pages = 0
            while True:
                if pages >= self.max_pages:
                    raise MonitorError(
                        f"GET {self.url}: the server still had rows after {self.max_pages:,} "
                        f"pages ({offset:,} rows"
                        + (f" of the {total:,} it counts" if counted else ", no count given")
                        + "); stopped at the page cap. Narrow the pull with filters or raise "
                        "max_pages=",
                        method="GET",
                        url=self.url,
                    )
                rows = self._fetch(offset)
                pages += 1
                if counted and offset + len(rows) > total:
                    rows = rows[: max(0, total - offset)]  # the server's own count ends it
                yield from rows
                offset += len(rows)
                bar.update(len(rows))
                if not rows:
                    break
                if counted and offset >= total:
                    break
                if not counted and len(rows) < self.page_size:
                    break
        finally:
            bar.close()

    @property
    def columns(self) -> list[str]:
        """The route's fields (:data:`ROUTE_COLUMNS`; empty for a route it does not know);
        with a ``fields`` filter (the data API's ``fields=``), those of them it names."""
        columns = list(ROUTE_COLUMNS.get(self.route, ()))
        named = self.filters.get("fields")
        if named is not None:
            texts = [named] if isinstance(named, str) else list(named)
            wanted = {n.strip() for t in texts for n in str(t).split(",")}
            return [c for c in columns if c in wanted]
        if self.route in ("buildphases", "attemptphases") and str(
            self.filters.get("output", "0")
        ).lower() in (
            "0",
            "false",
            "no",
        ):  # list pages leave phase outputs out unless the pull asks for them (output=1)
            columns.remove("output")
        return columns

    def to_frame(self) -> Any:
        """All rows as a pandas DataFrame (columns in the server's order).

        A pull with no rows still has the route's columns (:attr:`columns`), so
        ``frame["status"]`` and friends work on an empty result too.
        """
        import pandas as pd

        rows = list(self)
        if not rows:
            return pd.DataFrame(columns=self.columns)
        return pd.DataFrame.from_records(rows)

    def __repr__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.filters.items())
        count = f"{self._count} rows" if self._count is not None else "not fetched yet"
        return f"<PaginatedPull {self.url}{'?' + query if query else ''} ({count})>"


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value
