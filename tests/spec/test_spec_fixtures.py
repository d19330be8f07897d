"""The spec reader against the real files Spack 0.16.3 ... 0.22.1 wrote (tests/data/specs)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
import yaml

from spackmon_analysis.errors import SpecFormatError
from spackmon_analysis.spec import SpecGraph, decode_spec_document, load_spec

DATA = Path(__file__).resolve().parent.parent / "data"
SPECS = DATA / "specs"
ROOT = Path(__file__).resolve().parent.parent.parent
ALL = sorted(p for p in SPECS.iterdir() if p.suffix in (".json", ".yaml"))
FORMAT_OF_RELEASE = {
    "0.16.3": "list",
    "0.17.1": "v2",
    "0.18.0.dev0": "v3",
    "0.19.0": "v3",
    "0.21.2": "v4",
    "0.22.1": "v4",
}


def raw_counts(path: Path) -> tuple[int, int]:
    """Nodes and dependency entries counted straight from the parsed file, no spec package."""
    text = path.read_text()
    doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    body = doc["spec"]
    if isinstance(body, list):
        return len(body), sum(len(next(iter(n.values())).get("dependencies", {})) for n in body)
    return len(body["nodes"]), sum(len(n.get("dependencies", [])) for n in body["nodes"])


def release_of(path: Path) -> str:
    return re.search(r"-spack-(\d+\.\d+\.\d+(?:\.dev0)?)", path.name).group(1)


def release_tuple(release: str) -> tuple[int, int]:
    major, minor = release.split(".")[:2]
    return int(major), int(minor)


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_fixture_loads_with_independent_counts(path: Path) -> None:
    graph = load_spec(path)
    nodes, edges = raw_counts(path)
    assert len(graph) == nodes
    assert len(graph.edges) == edges
    assert graph.format == FORMAT_OF_RELEASE[release_of(path)]
    assert graph.source == str(path)  # the path as given
    assert len(graph.roots) == 1 and graph.root.name in ("zlib", "tinyapp")
    # every dependency resolved to a node of the document: no placeholders
    assert {e.child for e in graph.edges} <= set(graph.nodes)
    assert all(n.compiler == "gcc@12.2.0" and n.target == "icelake" for n in graph)
    assert all(n.os == "debian12" and n.platform == "linux" for n in graph)


@pytest.mark.parametrize(
    "release", ["0.16.3", "0.17.1", "0.18.0.dev0", "0.19.0", "0.21.2", "0.22.1"]
)
def test_json_and_yaml_give_the_same_graph(release: str) -> None:
    a = load_spec(SPECS / f"zlib-spack-{release}.json")
    b = load_spec(SPECS / f"zlib-spack-{release}.yaml")
    assert list(a.nodes) == list(b.nodes)
    assert [(n.name, n.version, n.hashes, n.variants, n.external) for n in a] == [
        (n.name, n.version, n.hashes, n.variants, n.external) for n in b
    ]
    assert a.edges == b.edges and a.roots == b.roots


# 0.22 concretizes the compiler runtime and libc as nodes; documented in tests/data/README
RUNTIME_0_22 = {"gcc-runtime", "glibc"}


@pytest.mark.parametrize(
    "package,base", [("zlib", {"zlib"}), ("tinyapp", {"tinyapp", "tinybase", "tinyutil"})]
)
def test_same_package_same_package_set_across_releases(package: str, base: set) -> None:
    for path in sorted(SPECS.glob(f"{package}-spack-*.json")):
        names = {n.name for n in load_spec(path)}
        release = release_of(path)
        extra = set()
        if release_tuple(release) >= (0, 21):
            extra |= {"gmake"}  # the external build tool becomes a node in 0.21
        if release_tuple(release) >= (0, 22):
            extra |= RUNTIME_0_22
        assert names == base | extra, path.name


def test_0_22_runtime_additions_are_explicit() -> None:
    g = load_spec(SPECS / "tinyapp-spack-0.22.1.json")
    glibc = g.find_name("glibc")[0]
    assert glibc.external and glibc.external_path == "/usr"
    virtuals = {(g.nodes[e.parent].name, g.nodes[e.child].name): e.virtuals for e in g.edges}
    assert virtuals[("tinyapp", "glibc")] == ("libc",)
    assert "gcc-runtime" in {n.name for n in g.dependencies(g.root)}


def test_installed_0_17_refs_by_full_hash_resolve() -> None:
    g = load_spec(SPECS / "tinyapp-spack-0.17.1-installed.json")
    raw = json.loads((SPECS / "tinyapp-spack-0.17.1-installed.json").read_text())
    refs = {d["full_hash"] for n in raw["spec"]["nodes"] for d in n.get("dependencies", [])}
    assert refs <= {n.full_hash for n in g}
    assert len(g) == 3


def test_list_format_refs_by_build_hash_and_edges() -> None:
    g = load_spec(SPECS / "tinyapp-spack-0.16.3.json")
    root = g.root
    assert root.full_hash == "n3suxb6ghhkm2ndztzc75roywtppd2ft" == root.key
    deps = {n.name for n in g.dependencies(root.key)}
    assert deps == {"tinybase", "tinyutil"}
    assert {n.name for n in g.dependents(g.find_name("tinybase")[0])} == {"tinyapp", "tinyutil"}
    e = g.edges[0]
    assert e.deptypes == ("build", "link") and e.virtuals == ()


def test_find_resolves_every_hash_key() -> None:
    g = load_spec(SPECS / "tinyapp-spack-0.17.1.json")
    for node in g:
        for value in node.hashes.values():
            assert g.find(value) is node
            assert value in g
    assert g.find("nope") is None and "nope" not in g


def test_v4_external_gmake() -> None:
    g = load_spec(SPECS / "zlib-spack-0.21.2.json")
    gmake = g.find_name("gmake")[0]
    assert gmake.external and gmake.external_path == "/usr"
    assert g.edges[0].deptypes == ("build",)


def test_install_prefix_spec_json() -> None:
    path = next(DATA.glob("installs/v0.17.1/tinyutil-*/.spack/spec.json"))
    g = load_spec(path)
    assert g.root.name == "tinyutil" and len(g) == 2


# --- wrappers and source kinds -------------------------------------------------------------


def _v4_doc() -> dict:
    return json.loads((SPECS / "tinyapp-spack-0.21.2.json").read_text())


def test_every_wrapper_and_source_kind(tmp_path: Path) -> None:
    doc = _v4_doc()
    inner = doc["spec"]
    reference = load_spec(doc)
    variants = {
        "bare": inner,
        "spec": {"spec": inner},
        "spec.spec": {"spec": {"spec": inner}},
        "upload": {"spec": inner, "spack_version": "0.21.2"},
        "monitor upload": {"spec": {"spec": inner}, "spack_version": "0.21.2"},
        "buildcache": json.loads((SPECS / "tinyapp-spack-0.22.1-buildcache.spec.json").read_text()),
    }
    for label, obj in variants.items():
        g = load_spec(obj)
        if label == "buildcache":
            assert g.root.name == "tinyapp" and len(g) == 6
            continue
        assert list(g.nodes) == list(reference.nodes), label
        assert g.edges == reference.edges, label
    assert load_spec(variants["upload"]).spack_version == "0.21.2"
    assert load_spec(doc).spack_version is None
    text = json.dumps(doc)
    assert list(load_spec(text).nodes) == list(reference.nodes)
    assert load_spec(text).source == "<string>"
    assert list(load_spec(text.encode()).nodes) == list(reference.nodes)
    gz = tmp_path / "spec.json.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    assert list(load_spec(gz).nodes) == list(reference.nodes)
    assert list(load_spec(str(gz)).nodes) == list(reference.nodes)
    assert list(load_spec(gzip.compress(text.encode())).nodes) == list(reference.nodes)
    assert load_spec(SPECS / "zlib-spack-0.16.3.yaml", name="mine").source == "mine"


def test_clearsigned_sig(tmp_path: Path) -> None:
    body = (SPECS / "tinyapp-spack-0.22.1-buildcache.spec.json").read_text()
    sig = (
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + body.rstrip("\n") + "\n"
        "-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE0000000000000000000000000000000000AAAA\n=abcd\n"
        "-----END PGP SIGNATURE-----\n"
    )
    path = tmp_path / "tinyapp.spec.json.sig"
    path.write_text(sig)
    g = load_spec(path)
    assert g.root.name == "tinyapp" and len(g) == 6
    assert len(load_spec(sig)) == 6
    broken = tmp_path / "broken.spec.json.sig"
    broken.write_text(sig.split("-----BEGIN PGP SIGNATURE-----")[0])
    with pytest.raises(SpecFormatError, match="broken.spec.json.sig"):
        load_spec(broken)


def test_lock_and_database_documents() -> None:
    raw = json.loads((SPECS / "tinyapp-spack-0.19.0.json").read_text())["spec"]["nodes"]
    lock = {
        "_meta": {"file-type": "spack-lockfile", "lockfile-version": 4},
        "roots": [{"hash": raw[0]["hash"], "spec": "tinyapp"}],
        "concrete_specs": {n["hash"]: n for n in raw},
    }
    g = load_spec(lock)
    assert g.roots == [raw[0]["hash"]] and len(g) == 3 and len(g.edges) == 3
    db = {
        "database": {
            "version": "6",
            "installs": {
                n["hash"]: {"spec": n, "path": "/x", "installed": True, "explicit": i == 0}
                for i, n in enumerate(raw)
            },
        }
    }
    g = load_spec(db)
    assert g.root.name == "tinyapp" and len(g) == 3


def test_singularity_tutorial_upload() -> None:
    g = load_spec(ROOT / "specs" / "singularity-3.6.4.json")
    assert g.format == "list"
    assert (g.root.name, g.root.version) == ("singularity", "3.6.4")
    assert g.root.full_hash == "p64nmszwer36ly7pnch5fznni4cnmndg"
    assert g.direct_dependency_hashes() == {
        "cryptsetup": "tmi4pf6umhalop7mi6zyiv7xjpalyzgb",
        "go": "dehg3ddu6gacrmnoexbxhjv2i2d76yq6",
        "libgpg-error": "4cvsg42wxksiup6x74mlabu6un55wjzc",
        "libseccomp": "kfx6zyjxzudw77e3xk6i73bcgi2cavgh",
        "pkgconf": "al2hlnux3cchfhwiv2sbejnxvnogibac",
        "shadow": "aozeq6ybtsnrs5phtonutwes7fe6yhcy",
        "squashfs": "vpemhhpzqqf7mvpzdvcg6szfah6mwt2q",
        "util-linux-uuid": "g362jjpzlfp3qhfm7gdery6v3xgeh3lg",
    }
    # a complete DAG: every node reachable from the root
    assert len(g.dependencies(transitive=True)) == len(g) - 1
    assert (
        repr(g)
        == f"<SpecGraph singularity@3.6.4 /p64nmsz {len(g)} nodes, {len(g.edges)} edges, format=list>"
    )
    raw = json.loads((ROOT / "specs" / "singularity-3.6.4.json").read_text())["spec"]
    assert len(g) == len(raw)
    assert len(g.edges) == sum(len(next(iter(n.values())).get("dependencies", {})) for n in raw)


def test_repr_html_and_plain_repr() -> None:
    g = load_spec(SPECS / "zlib-spack-0.22.1.json")
    html = g._repr_html_()
    assert "<table>" in html and "gcc-runtime" in html and "zlib" in html
    assert isinstance(g, SpecGraph) and "4 nodes, 4 edges, format=v4" in repr(g)


def test_decode_spec_document_of_a_clearsigned_old_style_yaml_spec() -> None:
    """``gpg --clearsign`` of a Spack 0.16 ``spec.yaml`` (its ``- tinyapp:`` list lines are
    dash-escaped): the decoder hands back the document the unsigned file holds, and the graph
    read from that very object."""
    import yaml

    signed = SPECS / "tinyapp-spack-0.16.3-installed.yaml.sig"
    assert "\n- - tinyapp:" in signed.read_text()  # really dash-escaped
    plain = yaml.safe_load((SPECS / "tinyapp-spack-0.16.3-installed.yaml").read_text())
    for source in (signed, str(signed), signed.read_bytes(), signed.read_text()):
        doc, graph = decode_spec_document(source, name="signed")
        assert doc == plain
        assert graph.source == "signed" and graph.format == "list"
        assert [n.name for n in graph] == [n.name for n in load_spec(plain)]
    doc, graph = decode_spec_document(plain)
    assert doc is plain and graph.root.name == "tinyapp"
    with pytest.raises(SpecFormatError, match="cannot read a spec from a int"):
        decode_spec_document(3)
