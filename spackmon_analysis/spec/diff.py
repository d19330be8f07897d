"""What changed between two spec DAGs: :class:`SpecDiff`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from .graph import SpecGraph, SpecNode

# ---------------------------------------------------------------------------------------------
# diff


@dataclass
class SpecDiff:
    """Differences between two spec DAGs (``old`` -> ``new``), by package.

    Nodes are matched by name; where a name has several nodes on either side (compilers as
    nodes in v5+, build-only duplicates), by a hash they share, then by version, then the
    last one left on each side; such packages are labelled ``name@version/hash7`` (the old
    node's for a matched pair) so duplicates stay apart. Nodes left unmatched are in
    ``added``/``removed``.

    ``added``/``removed``: package labels; ``version_changes``: label -> (old, new);
    ``variant_changes``: label -> {variant: (old, new)} (``None`` where a side lacks it);
    ``compiler_changes``: label -> (old, new) as ``name@version``; ``patch_changes``:
    label -> (old patches, new patches); ``edges_added`` / ``edges_removed``: (parent,
    child) label pairs; ``deptype_changes``: (parent, child) -> (old deptypes, new
    deptypes).

    Hashes are compared kind for kind: the ``full_hash`` when both nodes carry one, else
    the DAG ``hash`` when both carry one of the same meaning (Spack 0.18 changed it: before,
    list format and ``_meta`` v1/v2, it left out build dependencies and the recipe), else
    the ``build_hash``. ``hash_changes``: labels whose compared hash changed;
    ``hash_values``: label -> (old, new); ``hash_kinds``: label -> the kind compared
    (``"full_hash"``, ``"DAG hash"``, ``"DAG hash (Spack < 0.18)"``, ``"build_hash"``);
    ``hash_reasons``: label -> why it changed, from what the documents show: ``package_hash
    changed (the recipe)``, the node's own version/compiler/variants/patches/
    architecture/external changes, ``dependency changed: a, b`` (a dependency's hash
    changed), dependencies added/removed, deptypes changed; ``unexplained`` when none of
    those differ. ``hash_kind_mismatches``: label -> ((old kind, old value), (new kind, new
    value)) for a pair with no hash kind in common (a Spack 0.17 ``full_hash`` against a
    0.18+ DAG hash): those are labelled as different kinds, not reported as a change.
    Patches are compared once (``patch_changes``), not also as a ``patches`` variant.
    """

    old_label: str
    new_label: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    version_changes: dict[str, tuple] = field(default_factory=dict)
    variant_changes: dict[str, dict] = field(default_factory=dict)
    compiler_changes: dict[str, tuple] = field(default_factory=dict)
    edges_added: list[tuple[str, str]] = field(default_factory=list)
    edges_removed: list[tuple[str, str]] = field(default_factory=list)
    deptype_changes: dict[tuple[str, str], tuple] = field(default_factory=dict)
    hash_changes: list[str] = field(default_factory=list)
    patch_changes: dict[str, tuple] = field(default_factory=dict)
    hash_values: dict[str, tuple] = field(default_factory=dict)
    hash_kinds: dict[str, str] = field(default_factory=dict)
    hash_reasons: dict[str, list[str]] = field(default_factory=dict)
    hash_kind_mismatches: dict[str, tuple] = field(default_factory=dict)

    @classmethod
    def between(cls, old: SpecGraph, new: SpecGraph) -> SpecDiff:
        """Compare two graphs node by node (see the class docstring for the matching)."""
        pairs, removed, added, label_a, label_b = _match_nodes(old, new)
        d = cls(old_label=_label(old), new_label=_label(new))
        d.added = [label_b[n.key] for n in added]
        d.removed = [label_a[n.key] for n in removed]
        own: dict[str, list[str]] = {}
        for na, nb in pairs:
            name = label_a[na.key]
            mine = own.setdefault(name, [])
            if na.version != nb.version:
                d.version_changes[name] = (na.version, nb.version)
                mine.append("version")
            if na.compiler != nb.compiler:
                d.compiler_changes[name] = (na.compiler, nb.compiler)
                mine.append("compiler")
            va_all = {k: v for k, v in na.variants.items() if k != "patches"}
            vb_all = {k: v for k, v in nb.variants.items() if k != "patches"}
            if va_all != vb_all:
                changes = {}
                for v in list(va_all) + [v for v in vb_all if v not in va_all]:
                    va, vb = va_all.get(v), vb_all.get(v)
                    if va != vb:
                        changes[v] = (va, vb)
                if changes:
                    d.variant_changes[name] = changes
                    mine.append("variants " + ", ".join(changes))
            if tuple(na.patches) != tuple(nb.patches):
                d.patch_changes[name] = (tuple(na.patches), tuple(nb.patches))
                mine.append("patches")
            if (na.platform, na.os, na.target) != (nb.platform, nb.os, nb.target):
                mine.append("architecture")
            if (na.external, na.external_path) != (nb.external, nb.external_path):
                mine.append("external")
            compared = _comparable_hash(na, old, nb, new)
            if compared is None:
                d.hash_kind_mismatches[name] = (_hash_kind(na, old), _hash_kind(nb, new))
            elif compared[1] != compared[2]:
                d.hash_changes.append(name)
                d.hash_values[name] = (compared[1], compared[2])
                d.hash_kinds[name] = compared[0]
        ea = _edge_map(old, label_a)
        eb = _edge_map(new, label_b)
        d.edges_added = [e for e in eb if e not in ea]
        d.edges_removed = [e for e in ea if e not in eb]
        for e, ta in ea.items():
            tb = eb.get(e)
            if tb is not None and tuple(sorted(ta)) != tuple(sorted(tb)):
                d.deptype_changes[e] = (ta, tb)
        changed = set(d.hash_changes) | set(d.hash_kind_mismatches)
        for na, nb in pairs:
            name = label_a[na.key]
            if name in d.hash_changes:
                d.hash_reasons[name] = _hash_reasons(name, na, nb, own[name], d, ea, eb, changed)
        return d

    def __bool__(self) -> bool:
        return bool(
            self.added
            or self.removed
            or self.version_changes
            or self.variant_changes
            or self.compiler_changes
            or self.edges_added
            or self.edges_removed
            or self.deptype_changes
            or self.hash_changes
            or self.patch_changes
            or self.hash_kind_mismatches
        )

    def to_frame(self) -> pandas.DataFrame:
        """One row per change: columns change, package, attribute, old, new, why.

        ``hash`` rows name the kind of hash compared in ``attribute`` (``full_hash``,
        ``DAG hash``, ...) and why it changed in ``why``; ``hash kind`` rows are nodes whose
        documents carry different kinds of hash (``old``/``new``: ``kind value``)."""
        import pandas as pd

        columns = ["change", "package", "attribute", "old", "new", "why"]
        return pd.DataFrame(self._rows(), columns=columns)

    def _rows(self) -> list[tuple]:
        """``(change, package, attribute, old, new, why)`` per change (``why``: hash rows)."""
        rows: list[tuple] = []
        rows += [("added", n, None, None, None) for n in self.added]
        rows += [("removed", n, None, None, None) for n in self.removed]
        rows += [("version", n, "version", o, w) for n, (o, w) in self.version_changes.items()]
        rows += [("compiler", n, "compiler", o, w) for n, (o, w) in self.compiler_changes.items()]
        for n, ch in self.variant_changes.items():
            rows += [("variant", n, v, _fmt(o), _fmt(w)) for v, (o, w) in ch.items()]
        rows += [("edge added", p, c, None, None) for p, c in self.edges_added]
        rows += [("edge removed", p, c, None, None) for p, c in self.edges_removed]
        for (p, c), (o, w) in self.deptype_changes.items():
            rows += [("deptypes", p, c, ",".join(o), ",".join(w))]
        for n, (o, w) in self.patch_changes.items():
            rows += [("patches", n, "patches", ",".join(o), ",".join(w))]
        for n in self.hash_changes:
            o, w = self.hash_values.get(n, (None, None))
            why = "; ".join(self.hash_reasons.get(n, [])) or None
            rows += [("hash", n, self.hash_kinds.get(n, "hash"), o, w, why)]
        for n, ((ko, o), (kw, w)) in self.hash_kind_mismatches.items():
            rows += [("hash kind", n, "hash", f"{ko} {o}", f"{kw} {w}", _KIND_MISMATCH)]
        return [(*r, None)[:6] for r in rows]

    def __repr__(self) -> str:
        lines = [f"SpecDiff {self.old_label} -> {self.new_label}"]
        if not self:
            lines.append("  no differences")
        for change, pkg, attr, old, new, why in self._rows():
            if change == "hash":
                lines.append(f"  ~ {pkg} {attr}: {old} -> {new} ({why or 'unexplained'})")
            elif change == "hash kind":
                lines.append(f"  ~ {pkg} hash: {old} -> {new}: {_KIND_MISMATCH}")
            elif change in ("added", "removed"):
                lines.append(f"  {'+' if change == 'added' else '-'} {pkg}")
            elif change == "edge added":
                lines.append(f"  + edge {pkg} -> {attr}")
            elif change == "edge removed":
                lines.append(f"  - edge {pkg} -> {attr}")
            elif change == "deptypes":
                lines.append(f"  ~ edge {pkg} -> {attr}: deptypes {old} -> {new}")
            else:
                label = attr if change == "variant" else change
                lines.append(f"  ~ {pkg} {label}: {old} -> {new}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            "<tr>"
            + "".join(f"<td>{escape('' if c is None else str(c))}</td>" for c in row)
            + "</tr>"
            for row in self._rows()
        )
        head = escape(f"{self.old_label} -> {self.new_label}")
        if not rows:
            return f"<div><p>SpecDiff {head}: no differences</p></div>"
        return (
            f"<div><p>SpecDiff {head}</p><table><thead><tr><th>change</th><th>package</th>"
            f"<th>attribute</th><th>old</th><th>new</th><th>why</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>"
        )


_KIND_MISMATCH = "different kinds of hash, not comparable"

#: Spec formats written before Spack 0.18, whose DAG ``hash`` left out build dependencies.
_OLD_DAG_HASH_FORMATS = frozenset({"list", "v1", "v2"})


def _hash_kind(node: SpecNode, graph: SpecGraph) -> tuple[str, str]:
    """``(kind, value)`` of the hash a node is keyed by: what a reader sees for it."""
    if "full_hash" in node.hashes:
        return "full_hash", node.hashes["full_hash"]
    if "hash" in node.hashes:
        return _dag_kind(graph), node.hashes["hash"]
    for key in ("build_hash", "dag_hash"):
        if key in node.hashes:
            return key, node.hashes[key]
    return "hash", node.key


def _dag_kind(graph: SpecGraph) -> str:
    return "DAG hash (Spack < 0.18)" if graph.format in _OLD_DAG_HASH_FORMATS else "DAG hash"


def _comparable_hash(
    na: SpecNode, ga: SpecGraph, nb: SpecNode, gb: SpecGraph
) -> tuple[str, str, str] | None:
    """``(kind, old, new)`` of the first hash kind both nodes carry with the same meaning,
    else None."""
    ha, hb = na.hashes, nb.hashes
    if "full_hash" in ha and "full_hash" in hb:
        return "full_hash", ha["full_hash"], hb["full_hash"]
    if "hash" in ha and "hash" in hb and _dag_kind(ga) == _dag_kind(gb):
        return _dag_kind(ga), ha["hash"], hb["hash"]
    for key in ("build_hash", "dag_hash"):
        if key in ha and key in hb:
            return key, ha[key], hb[key]
    if not ha and not hb:  # documents without any hash key: the graph keys
        return "hash", na.key, nb.key
    return None


def _hash_reasons(
    name: str,
    na: SpecNode,
    nb: SpecNode,
    own: list[str],
    d: SpecDiff,
    ea: dict,
    eb: dict,
    changed: set[str],
) -> list[str]:
    """Why a node's hash changed, as far as the two documents show."""
    reasons: list[str] = []
    pa, pb = na.hashes.get("package_hash"), nb.hashes.get("package_hash")
    if pa is not None and pb is not None and pa != pb:
        reasons.append("package_hash changed (the recipe)")
    reasons += [f"{what} changed" for what in own]
    deps_a = {c for (p, c) in ea if p == name}
    deps_b = {c for (p, c) in eb if p == name}
    moved = sorted(c for c in deps_a & deps_b if c in changed)
    if moved:
        reasons.append("dependency changed: " + ", ".join(moved))
    if deps_b - deps_a:
        reasons.append("dependencies added: " + ", ".join(sorted(deps_b - deps_a)))
    if deps_a - deps_b:
        reasons.append("dependencies removed: " + ", ".join(sorted(deps_a - deps_b)))
    retyped = sorted(c for (p, c) in d.deptype_changes if p == name)
    if retyped:
        reasons.append("deptypes changed: " + ", ".join(retyped))
    if not reasons:
        if pa is None or pb is None:
            reasons.append(
                "unexplained: no field of the documents differs and they carry no "
                "package_hash to compare (the recipe or the Spack release may differ)"
            )
        else:
            reasons.append("unexplained: no field of the documents differs")
    return reasons


def _fmt(value: Any) -> Any:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value


def _label(g: SpecGraph) -> str:
    r = g.root
    return f"{r.name}@{r.version}" if r.version is not None else r.name


def _match_nodes(
    old: SpecGraph, new: SpecGraph
) -> tuple[list[tuple[SpecNode, SpecNode]], list[SpecNode], list[SpecNode], dict, dict]:
    """Pair the nodes of two graphs: ``(pairs, removed, added, old labels, new labels)``.

    Per name: a single node on each side is a pair; otherwise nodes sharing a hash pair
    first, then nodes of the same version (document order), then the last node left on
    each side. Labels: the name, or ``name@version/hash7`` where the name has several
    nodes on either side (a pair gets the old node's label on both sides).
    """
    by_a: dict[str, list[SpecNode]] = {}
    by_b: dict[str, list[SpecNode]] = {}
    # the members of each DAG: a spliced node's build spec written beside it is provenance
    for n in old.nodes.values():
        if n.key not in old.provenance:
            by_a.setdefault(n.name, []).append(n)
    for n in new.nodes.values():
        if n.key not in new.provenance:
            by_b.setdefault(n.name, []).append(n)
    pairs: list[tuple[SpecNode, SpecNode]] = []
    removed: list[SpecNode] = []
    added: list[SpecNode] = []
    label_a: dict[str, str] = {}
    label_b: dict[str, str] = {}

    def long_label(n: SpecNode) -> str:
        ver = f"@{n.version}" if n.version is not None else ""
        return f"{n.name}{ver}/{n.key[:7]}"

    for name, nodes_a in by_a.items():
        nodes_b = by_b.get(name, [])
        if len(nodes_a) == 1 and len(nodes_b) <= 1:
            label_a[nodes_a[0].key] = name
            if nodes_b:
                label_b[nodes_b[0].key] = name
                pairs.append((nodes_a[0], nodes_b[0]))
            else:
                removed.append(nodes_a[0])
            continue
        left_a, left_b = list(nodes_a), list(nodes_b)
        matched: list[tuple[SpecNode, SpecNode]] = []
        for same in (
            lambda x, y: bool(set(x.hashes.values()) & set(y.hashes.values())),
            lambda x, y: x.version == y.version,
        ):
            for na in list(left_a):
                for nb in left_b:
                    if same(na, nb):
                        matched.append((na, nb))
                        left_a.remove(na)
                        left_b.remove(nb)
                        break
        if len(left_a) == 1 and len(left_b) == 1:
            matched.append((left_a.pop(), left_b.pop()))
        for na, nb in matched:
            label_a[na.key] = label_b[nb.key] = long_label(na)
        for na in left_a:
            label_a[na.key] = long_label(na)
        for nb in left_b:
            label_b[nb.key] = long_label(nb)
        pairs += matched
        removed += left_a
        added += left_b
    for name, nodes_b in by_b.items():
        if name in by_a:
            continue
        for nb in nodes_b:
            label_b[nb.key] = name if len(nodes_b) == 1 else long_label(nb)
            added.append(nb)
    # keep document order for the reports
    order_a = {k: i for i, k in enumerate(old.nodes)}
    order_b = {k: i for i, k in enumerate(new.nodes)}
    pairs.sort(key=lambda p: order_a[p[0].key])
    removed.sort(key=lambda n: order_a[n.key])
    added.sort(key=lambda n: order_b[n.key])
    return pairs, removed, added, label_a, label_b


def _edge_map(g: SpecGraph, labels: dict[str, str]) -> dict[tuple[str, str], tuple]:
    out: dict[tuple[str, str], tuple] = {}
    for e in g.edges:
        if e.parent not in g.provenance:
            out.setdefault((labels[e.parent], labels[e.child]), e.deptypes)
    return out
