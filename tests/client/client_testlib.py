"""Helpers shared by the client tests (importable thanks to tests/client/conftest.py)."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data"
SPECS = DATA / "specs"
SAVE_LOCAL = DATA / "save-local"
INSTALLS = DATA / "installs"

SUCCESS_RUN = SAVE_LOCAL / "v0.17.1-success-tinyapp"
FAILURE_RUN = SAVE_LOCAL / "v0.17.1-failure-tinybrokenapp"
TINYUTIL_PREFIX = INSTALLS / "v0.17.1" / "tinyutil-2.1-o3dvqdizwzqb5yb35aqxfy4npnx625h5"
TINYAPP_SPEC = SPECS / "tinyapp-spack-0.17.1.json"

#: Local id -> spec name, as the fixtures' README documents them.
LOCAL_IDS = {
    "4e077fd0e6997b2f609405ab264e6aae": "tinybase",
    "faaa403a977ea2c06ac9304cc1928c4f": "tinyutil",
    "10c3368f983fe98c9370d38cc7b5c563": "tinyapp",
    "1ab48b1b401db81a0b850246f96a0136": "tinybroken",
    "5dc1b4dfa0a36b7fe9009965aa24e445": "tinybrokenapp",
}


def copy_run(source: Path, target: Path) -> Path:
    """Copy a real save-local run directory to ``target``."""
    shutil.copytree(source, target)
    return target


def rename_to_full_hash_style(run: Path) -> dict[str, str]:
    """Rewrite a copied run in the older 0.17 naming: metadata (and the phase and
    status files) named by the spec's full hash instead of the local md5 id.
    Returns full hash -> old local id."""
    mapping = {}
    for meta in sorted(run.glob("build-metadata-*.json")):
        local_id = re.match(r"build-metadata-(.+)\.json", meta.name).group(1)
        full_hash = json.loads(meta.read_text())["full_hash"]
        mapping[local_id] = full_hash
    for file in sorted(run.glob("build-*.json")):
        for local_id, full_hash in mapping.items():
            if local_id in file.name:
                doc = json.loads(file.read_text())
                if "build_id" in doc:
                    doc["build_id"] = full_hash
                file.write_text(json.dumps(doc, indent=2))
                file.rename(run / file.name.replace(local_id, full_hash))
    return {v: k for k, v in mapping.items()}


def free_port() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: Columns that differ between two servers given the same data: ids, times, secrets.
VOLATILE_COLUMNS = frozenset({"id", "created_at", "updated_at", "token_updated_at", "token_hash"})


def table_rows(mon: Any, also_volatile: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """Every table's rows of the LocalMonitor ``mon`` without :data:`VOLATILE_COLUMNS` (and
    ``also_volatile``), a foreign key replaced by the row it points to (two servers number
    the same rows in different orders)."""
    from sqlalchemy import select

    from spackmon_analysis.server.tables import metadata

    volatile = VOLATILE_COLUMNS | also_volatile
    seen: dict[str, dict] = {}
    out = {}
    with mon.store.read.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name == "spackmon_meta":
                continue
            fks = {fk.parent.name: fk.column.table.name for fk in table.foreign_keys}
            rows = {}
            for i, row in enumerate(conn.execute(select(table)).mappings()):
                rows[row.get("id", i)] = tuple(
                    seen[fks[k]][v] if k in fks and v is not None else v
                    for k, v in row.items()
                    if k not in volatile
                )
            seen[table.name] = rows
            out[table.name] = sorted(map(repr, rows.values()))
    return out
