"""``POST specs/new`` and the spec documents a ``builds/new`` carries: a document's nodes and
edges -> spec rows, a node already stored (under any of its hashes) reused, a document that
disagrees with what is stored for the same hash refused (409)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Insert, bindparam, or_, select, update

from ...errors import SpecFormatError
from ..tables import (
    architectures,
    compilers,
    dependencies,
    run_prepared,
    run_prepared_many,
    specs,
    targets,
    utcnow,
)
from ..validate import RequestError, check_lengths
from .fields import _require_dict

__all__ = ["new_spec", "import_graph"]

# Statements of the hot path, built once (fields.py says why and how a build's row is locked).
#: The columns of a spec row ``import_graph`` writes, one row per node (bound as ``b_<name>``).
_SPEC_COLUMNS = (
    "name",
    "version",
    "full_hash",
    "hash",
    "build_hash",
    "dag_hash",
    "package_hash",
    "spack_version",
    "namespace",
    "compiler_name",
    "compiler_version",
    "platform",
    "os",
    "target",
    "parameters",
    "external",
    "external_path",
    "is_root",
    "created_at",
    "build_spec",
    "compiler_id",
    "architecture_id",
)
_INS_SPEC = (
    specs.insert()
    .values({name: bindparam("b_" + name, type_=specs.c[name].type) for name in _SPEC_COLUMNS})
    .returning(specs.c.id)
)
_INS_EDGE = dependencies.insert().values(
    {
        name: bindparam(name, type_=dependencies.c[name].type)
        for name in ("spec_id", "dependency_id", "deptypes", "virtuals")
    }
)


def _load_graph(doc: Any) -> Any:
    from ...spec import load_spec  # the one spec reader of the project

    try:
        return load_spec(doc)
    except SpecFormatError as exc:
        raise RequestError(400, f"Invalid spec: {exc}") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RequestError(400, f"Invalid spec: {exc}") from None


def _get_or_create(
    conn: Connection, table: Any, key: dict, extra: dict | None = None, memo: dict | None = None
) -> int:
    if memo is not None:
        mkey = (table.name, tuple(sorted(key.items())))
        if mkey in memo:
            return memo[mkey]
        memo[mkey] = value = _get_or_create(conn, table, key, extra)
        return value
    where = [table.c[k] == v for k, v in key.items()]
    found = conn.execute(select(table.c.id).where(*where)).scalar()
    if found is not None:
        return found
    return _insert(conn, table.insert().values(**key, **(extra or {})))


def _insert(conn: Connection, statement: Insert) -> int:
    """Run the single-row INSERT ``statement`` -> the new row's id."""
    key = conn.execute(statement).inserted_primary_key
    if key is None:  # only for a multi-row or primary-key-less INSERT, which we never run
        raise RuntimeError(f"INSERT into {statement.table} returned no primary key")
    return int(key[0])


#: Hash keys that identify a node (``package_hash`` is the recipe's hash, shared by many specs).
_IDENTITY_KEYS = ("full_hash", "hash", "build_hash", "dag_hash")


def _node_hashes(node: Any) -> set[str]:
    """Every identity hash ``node`` carries (plus its graph key)."""
    hashes_of = dict(getattr(node, "hashes", {}) or {})
    found = {hashes_of[k] for k in _IDENTITY_KEYS if hashes_of.get(k)}
    found.add(node.key)
    return found


def _row_has_full_hash(row: Any) -> bool:
    """True when the stored row's ``full_hash`` came from a ``full_hash`` key of its document.

    A node written without one (a Spack 0.18+ ``spec.json``) is stored under its DAG hash, so
    its ``full_hash`` column then repeats its ``hash`` column.
    """
    return row.hash is None or row.full_hash != row.hash


def _match_stored(node: Any, rows: list[Any]) -> int | None:
    """The id of the stored spec ``node`` is, among ``rows`` of the same name, or None.

    Same spec = same ``full_hash``; else any identity hash the node carries equals any hash the
    stored spec carries (a Spack 0.18 installed ``spec.json`` carries only the DAG ``hash`` of a
    spec its monitor upload stored under a legacy ``full_hash``). Exception: when both sides carry
    a ``full_hash`` and the two differ, they are different specs even if another hash agrees
    (Spack 0.17's ``hash`` left out build dependencies and the recipe, so it can be shared).
    """
    mine = _node_hashes(node)
    explicit_full = (getattr(node, "hashes", {}) or {}).get("full_hash")
    for row in rows:
        if row.full_hash == node.full_hash:
            return row.id
    for row in rows:
        theirs = {row.full_hash, row.hash, row.build_hash, row.dag_hash} - {None}
        if not mine & theirs:
            continue
        if explicit_full and _row_has_full_hash(row) and row.full_hash != explicit_full:
            continue
        return row.id
    return None


#: Fields of a stored spec compared with a document's node of the same hash when both carry them.
_COMPARED = (
    "version",
    "namespace",
    "compiler_name",
    "compiler_version",
    "platform",
    "os",
    "target",
    "external_path",
)


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _stored_summary(conn: Connection, spec_id: int) -> dict:
    """What is stored for one spec, in the ``specs/new`` answer's shape."""
    row = conn.execute(
        select(specs.c.full_hash, specs.c.name, specs.c.version, specs.c.spack_version).where(
            specs.c.id == spec_id
        )
    ).one()
    child = specs.alias("child")
    deps = conn.execute(
        select(child.c.name, child.c.full_hash)
        .join(dependencies, dependencies.c.dependency_id == child.c.id)
        .where(dependencies.c.spec_id == spec_id)
        .order_by(dependencies.c.id)
    ).all()
    return {
        "full_hash": row.full_hash,
        "name": row.name,
        "version": row.version,
        "spack_version": row.spack_version,
        "specs": {d.name: d.full_hash for d in deps},
    }


def _node_conflicts(node: Any, row: Any, sent_deps: dict, stored_deps: dict) -> dict:
    """The fields where ``node`` (a document's) and ``row`` (stored, same spec) disagree.

    Only fields both carry are compared (a Spack 0.18 installed ``spec.json`` carries only the
    DAG ``hash`` of a spec its monitor upload stored with a ``full_hash`` too: no conflict).
    ``sent_deps``/``stored_deps`` map dependency names to stored spec ids (None: a spec not
    stored). A dependency both list must be the same stored spec; one only one side lists is a
    conflict only when both carry a ``full_hash`` (which covers every dependency).
    """
    found: dict[str, dict] = {}
    hashes_of = dict(getattr(node, "hashes", {}) or {})
    sent_full = hashes_of.get("full_hash")
    stored_full = row.full_hash if _row_has_full_hash(row) else None
    pairs = [("full_hash", sent_full, stored_full)]
    pairs += [
        (k, hashes_of.get(k), row._mapping[k]) for k in ("hash", "build_hash", "package_hash")
    ]
    values = {
        "version": str(node.version or ""),
        "namespace": node.namespace,
        "compiler_name": node.compiler_name,
        "compiler_version": node.compiler_version,
        "platform": node.platform,
        "os": node.os,
        "target": node.target,
        "external_path": getattr(node, "external_path", None),
    }
    pairs += [(k, values[k], row._mapping[k]) for k in _COMPARED]
    for key, sent, stored in pairs:
        if sent not in (None, "") and stored not in (None, "") and str(sent) != str(stored):
            found[key] = {"sent": sent, "stored": stored}
    stored_params = row.parameters
    if isinstance(stored_params, str):
        stored_params = json.loads(stored_params)
    sent_params = dict(node.parameters or {})
    for key in sorted(set(sent_params) & set(stored_params or {})):
        if _canon(sent_params[key]) != _canon(stored_params[key]):
            found[f"parameters.{key}"] = {"sent": sent_params[key], "stored": stored_params[key]}
    both_full = sent_full is not None and stored_full is not None
    for name in sorted(set(sent_deps) | set(stored_deps)):
        if name in sent_deps and name in stored_deps:
            if sent_deps[name] != stored_deps[name]:
                found[f"dependencies.{name}"] = {"sent": "another spec", "stored": "stored one"}
        elif both_full:
            side = "sent" if name in sent_deps else "stored"
            found[f"dependencies.{name}"] = {"sent": side == "sent", "stored": side == "stored"}
    return found


def _check_conflicts(
    conn: Connection, graph: Any, matched: dict[str, int], spack_version: str
) -> None:
    """Refuse (409) a document whose nodes disagree with the stored specs they resolve to."""
    ids = sorted(set(matched.values()))
    rows: dict[int, Any] = {}
    stored_deps: dict[int, dict[str, int]] = {}
    child = specs.alias("child")
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows.update((r.id, r) for r in conn.execute(select(specs).where(specs.c.id.in_(chunk))))
        for r in conn.execute(
            select(dependencies.c.spec_id, dependencies.c.dependency_id, child.c.name)
            .join(child, child.c.id == dependencies.c.dependency_id)
            .where(dependencies.c.spec_id.in_(chunk))
        ):
            stored_deps.setdefault(r.spec_id, {})[r.name] = r.dependency_id
    sent_deps: dict[str, dict[str, int | None]] = {}
    for e in graph.edges:
        if e.parent in matched:
            sent_deps.setdefault(e.parent, {})[graph.nodes[e.child].name] = matched.get(e.child)
    conflicts = []
    for key, spec_id in matched.items():
        node = graph.nodes[key]
        fields = _node_conflicts(
            node, rows[spec_id], sent_deps.get(key, {}), stored_deps.get(spec_id, {})
        )
        if fields:
            conflicts.append((node, spec_id, fields))
    if not conflicts:
        return
    parts = [
        f"{node.name} {rows[spec_id].full_hash} ({', '.join(fields)})"
        for node, spec_id, fields in conflicts[:5]
    ]
    more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
    raise RequestError(
        409,
        f"The spec document disagrees with what is stored for the same hash under Spack "
        f"{spack_version}: {'; '.join(parts)}{more}. Nothing was stored; data.conflicts shows "
        "what is stored.",
        data={
            "conflicts": [
                {**_stored_summary(conn, spec_id), "fields": fields}
                for _node, spec_id, fields in conflicts[:20]
            ]
        },
    )


def import_graph(conn: Connection, graph: Any, spack_version: str) -> tuple[int, bool, dict]:
    """Store every node and edge of ``graph`` (deduplicating nodes already stored).

    A node is already stored when a spec of the same name and Spack version carries any of its
    hashes (see :func:`_match_stored`): documents of one spec that carry different hash keys
    (a monitor upload with ``full_hash``, an installed ``spec.json`` with only ``hash``) resolve
    to one row. Returns ``(root spec id, root created?, {key: spec id})``.
    """
    now = utcnow()
    # the members of the DAG: a spliced node's build spec written beside it in the document
    # is provenance (its DAG hash is kept in the spliced spec's ``build_spec``), not a spec
    # of the DAG (``SpecGraph.provenance``); the offline loaders leave it out alike
    provenance = graph.provenance
    nodes = [n for n in graph.nodes.values() if n.key not in provenance]
    graph_edges = [e for e in graph.edges if e.parent not in provenance]
    hashes = list({h for n in nodes for h in _node_hashes(n)})
    stored: dict[str, list[Any]] = {}
    seen_ids: set[int] = set()
    cols = (specs.c.full_hash, specs.c.hash, specs.c.build_hash, specs.c.dag_hash)
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        for r in conn.execute(
            select(
                specs.c.id,
                specs.c.name,
                specs.c.full_hash,
                specs.c.hash,
                specs.c.build_hash,
                specs.c.dag_hash,
            )
            .where(specs.c.spack_version == spack_version, or_(*(c.in_(chunk) for c in cols)))
            .order_by(specs.c.id)
        ):
            if r.id not in seen_ids:
                seen_ids.add(r.id)
                stored.setdefault(r.name, []).append(r)
    existing: dict[tuple[str, str], int] = {}
    for node in nodes:
        match = _match_stored(node, stored.get(node.name, []))
        if match is not None:
            existing[(node.name, node.full_hash)] = match
    matched = {
        n.key: existing[(n.name, n.full_hash)] for n in nodes if (n.name, n.full_hash) in existing
    }
    if matched:  # a document must agree with what is stored for the specs it names (409)
        _check_conflicts(conn, graph, matched, spack_version)
    roots = set(graph.roots)
    ids: dict[str, int] = {}
    memo: dict = {}
    created_keys: set[str] = set()
    for node in nodes:
        ident = (node.name, node.full_hash)
        if ident in existing:
            ids[node.key] = existing[ident]
            continue
        hashes_of = dict(getattr(node, "hashes", {}) or {})
        values = dict(
            name=node.name,
            version=str(node.version or ""),
            full_hash=node.full_hash,
            hash=hashes_of.get("hash"),
            build_hash=hashes_of.get("build_hash"),
            dag_hash=node.dag_hash,
            package_hash=hashes_of.get("package_hash"),
            spack_version=spack_version,
            namespace=node.namespace,
            compiler_name=node.compiler_name,
            compiler_version=node.compiler_version,
            platform=node.platform,
            os=node.os,
            target=node.target,
            parameters=dict(node.parameters or {}),
            external=bool(node.external),
            external_path=getattr(node, "external_path", None),
            is_root=node.key in roots,
            created_at=now,
            build_spec=node.build_spec,
        )
        check_lengths(specs, values, f"spec node {node.name[:60]!r}")
        compiler_id = None
        if node.compiler_name:
            compiler_id = _get_or_create(
                conn,
                compilers,
                {"name": node.compiler_name, "version": node.compiler_version or ""},
                memo=memo,
            )
        arch_id = None
        if node.platform or node.os or node.target:
            target_id = _get_or_create(
                conn,
                targets,
                {"name": node.target or "", "vendor": "", "generation": 0},
                {"features": [], "parents": []},
                memo=memo,
            )
            arch_id = _get_or_create(
                conn,
                architectures,
                {"platform": node.platform or "", "os": node.os or "", "target_id": target_id},
                memo=memo,
            )
        values.update(compiler_id=compiler_id, architecture_id=arch_id)
        new_id = run_prepared(conn, _INS_SPEC, {"b_" + k: v for k, v in values.items()})[0][0]
        existing[ident] = new_id
        ids[node.key] = new_id
        created_keys.add(node.key)
    root_ids = [ids[k] for k in graph.roots if k not in created_keys]
    if root_ids:
        conn.execute(update(specs).where(specs.c.id.in_(root_ids)).values(is_root=True))
    # edges
    parent_ids = list({ids[e.parent] for e in graph_edges})
    have: set[tuple[int, int]] = set()
    for start in range(0, len(parent_ids), 500):
        parents = parent_ids[start : start + 500]
        have.update(
            (r.spec_id, r.dependency_id)
            for r in conn.execute(
                select(dependencies.c.spec_id, dependencies.c.dependency_id).where(
                    dependencies.c.spec_id.in_(parents)
                )
            )
        )
    new_edges = []
    for e in graph_edges:
        if e.parent in matched:  # a stored spec keeps the edges it was stored with
            continue
        pair = (ids[e.parent], ids[e.child])
        if pair in have:
            continue
        have.add(pair)
        new_edges.append(
            {
                "spec_id": pair[0],
                "dependency_id": pair[1],
                "deptypes": list(e.deptypes or ()),
                "virtuals": list(e.virtuals or ()),
            }
        )
    run_prepared_many(conn, _INS_EDGE, new_edges)
    root_key = graph.roots[0] if graph.roots else next(iter(graph.nodes))
    return ids[root_key], root_key in created_keys, ids


def _spack_version(body: dict) -> str:
    version = body.get("spack_version")
    if not isinstance(version, str) or not version.strip():
        raise RequestError(400, "A spack_version string is required")
    version = version.strip()
    check_lengths(specs, {"spack_version": version}, "The request")
    return version


def new_spec(conn: Connection, body: Any) -> tuple[int, dict]:
    """``POST specs/new``: returns (status 201|200, data)."""
    body = _require_dict(body)
    spack_version = _spack_version(body)
    if "spec" not in body or body["spec"] in (None, "", {}, []):
        raise RequestError(400, "A spec is required: the body needs a 'spec' object.")
    graph = _load_graph(body["spec"])
    root_id, created, _ = import_graph(conn, graph, spack_version)
    # the answer shows what is stored (for an existing spec: the first upload's values)
    data = {"spec": _stored_summary(conn, root_id), "created": created}
    return (201 if created else 200), data
