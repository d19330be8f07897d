"""One reader for every Spack spec document, as a graph and as pandas frames.

:func:`load_spec` accepts a path (``.json``, ``.yaml``/``.yml``, clearsigned ``.json.sig``,
optionally gzip-compressed), JSON or YAML text, ``bytes`` or an already-parsed object, and
returns a :class:`SpecGraph`; :func:`decode_spec_document` returns the decoded document with
it (what the client uploads). Every format Spack has written is read (see PROTOCOL section 5):

* the old list format of Spack <= 0.16 (``[{"<name>": {node}}]``),
* node lists with ``_meta.version`` 2 (0.17), 3 (0.18-0.19), 4 (0.21-0.23), 5 (1.0-1.2), 6 (1.3),
* the wrappers ``{"spec": X}``, ``{"spec": {"spec": X}}``, upload bodies with ``spack_version``,
  buildcache ``spec.json`` files and clearsigned ``spec.json.sig`` files,
* an environment's ``spack.lock`` (``concrete_specs``) and the install database ``index.json``.

A dependency entry resolves to the node that carries its value under **any** hash key
(``hash``, ``full_hash``, ``build_hash``, ``dag_hash``), or, failing that, to the only node with
that name; a reference nothing resolves is an error, never a placeholder node. Stored hashes
are authoritative and never recomputed.

Malformed input raises :class:`~spackmon_analysis.errors.SpecFormatError` naming the file and
the path of the bad element (for example ``spec.nodes[3].dependencies[1]: no hash key``), and
nothing else.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecFormatError
from .decode import decode
from .diff import SpecDiff
from .graph import (
    DEPENDENCY_COLUMNS,
    HASH_KEYS,
    SPEC_COLUMNS,
    SpecEdge,
    SpecGraph,
    SpecNode,
    _Cols,
    _no_gc,
    spec_digraph,
)
from .parse import _Parser

__all__ = [
    "load_spec",
    "decode_spec_document",
    "SpecGraph",
    "SpecNode",
    "SpecEdge",
    "SpecDiff",
    "HASH_KEYS",
    "SPEC_COLUMNS",
    "DEPENDENCY_COLUMNS",
    "spec_digraph",
]

# ---------------------------------------------------------------------------------------------
# entry points


def load_spec(source: Any, *, name: str | None = None) -> SpecGraph:
    """Read any Spack spec document into a :class:`SpecGraph`.

    ``source`` is a path (``str``/``Path``: ``.json``, ``.yaml``/``.yml``, clearsigned
    ``.json.sig``, optionally gzip-compressed), JSON/YAML text, ``bytes``, or an
    already-parsed ``dict``/``list``. ``name`` overrides the label used in error messages
    and ``SpecGraph.source``.

    Raises :class:`~spackmon_analysis.errors.SpecFormatError` (and nothing else) when the
    document is malformed; the error names the source and the path of the bad element.
    """
    # Parsing allocates many small containers and no cycles: the cyclic garbage collector
    # would repeatedly walk the whole document while it grows (more than doubling load time).
    # The document is dropped inside _graph, before the collector runs again, so its first
    # pass only sees what the graph keeps.
    with _no_gc():
        return _graph(*decode(source, name))


def decode_spec_document(source: Any, *, name: str | None = None) -> tuple[Any, SpecGraph]:
    """``(document, graph)``: the decoded spec document and the :class:`SpecGraph` read from
    that very object.

    ``source`` is what :func:`load_spec` takes. The document is what a file, ``bytes`` or
    text holds once gunzipped, freed of an OpenPGP clearsign (dash-escaped lines restored)
    and parsed as JSON or YAML; a ``dict``/``list`` is returned as it is. Whoever sends a
    spec on (the client's uploads) sends this document, so what was checked is what is
    sent. Raises :class:`~spackmon_analysis.errors.SpecFormatError` like :func:`load_spec`.
    """
    with _no_gc():
        label, doc = decode(source, name)
        return doc, _graph(label, doc)


def _graph(label: str, doc: Any) -> SpecGraph:
    parser = _Parser(label)
    try:
        result = parser.parse(doc)
    except SpecFormatError:
        raise
    except RecursionError:
        raise parser.fail("document nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - the contract: nothing but SpecFormatError escapes
        raise parser.fail(f"malformed document ({type(exc).__name__}: {exc})") from None
    del doc
    if isinstance(result, _Cols):
        return SpecGraph._from_columns(
            result, format=parser.format, source=label, spack_version=parser.spack_version
        )
    roots, edges = result
    return SpecGraph(
        parser.nodes,
        edges,
        roots,
        format=parser.format,
        source=label,
        spack_version=parser.spack_version,
        index=parser.index,
    )
