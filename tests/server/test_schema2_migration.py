"""Schema 2 -> 3 (``specs.build_spec``, spliced specs): a database made by the server of the
previous release (``tests/data/schema2``, made by ``make_schema2.py`` with that code) is left
untouched by readers, which name the command that migrates it, and is migrated in place by the
server's commands (``spackmon serve`` and ``spackmon users`` open it the same way,
``Store.open``); it then answers as before, with an empty ``build_spec``, and stores spliced
specs. (Schema 1 -> 3: tests/server/test_schema_migration.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from testlib import schema_version

from spackmon_analysis import LocalMonitor, MonitorData
from spackmon_analysis.cli import main
from spackmon_analysis.errors import SchemaVersionError

DATA = Path(__file__).resolve().parents[1] / "data"
HERE = DATA / "schema2"
ANSWERS = json.loads((HERE / "answers-schema2.json").read_text())
SPLICED_TREE = DATA / "spack-1.x" / "v0.23.1-splice" / "opt" / "spack"


def test_a_schema2_database_is_migrated_by_the_server_commands_only(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copyfile(HERE / "spackmon-schema2.db", db)
    url = f"sqlite:///{db}"
    with pytest.raises(SchemaVersionError) as info:
        MonitorData.from_database(url)
    assert "schema version 2" in str(info.value) and "spackmon serve --db URL" in str(info.value)
    assert schema_version(url) == "2"  # a reader changes nothing

    assert main(["users", "add", "bob", "--db", url]) == 0  # opens the store as serve does
    assert schema_version(url) == "3"
    data = MonitorData.from_database(url)
    assert data.specs["build_spec"].isna().all()
    assert sorted(data.builds["full_hash"]) == sorted(b["full_hash"] for b in ANSWERS["builds"])

    with LocalMonitor(url, in_process=True) as mon:
        mon.add_user("carol")
        client = mon.client("carol", progress=False)
        now = {route: list(client.pull(route)) for route in ANSWERS}
        for route, old_rows in ANSWERS.items():
            assert len(now[route]) == len(old_rows), route
            for old, new in zip(old_rows, now[route], strict=True):
                assert {k: new.get(k) for k in old} == old, route  # every old field, same value
        assert all(s["build_spec"] is None for s in now["specs"])
        # the migrated database stores a spliced spec as a new one does
        assert client.upload(SPLICED_TREE).problems == []
        spliced = [s for s in client.pull("specs") if s["build_spec"]]
        client.close()
    assert spliced and {s["name"] for s in spliced} >= {"tinyapp"}
