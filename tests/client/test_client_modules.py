"""The client's modules are small enough to read in one sitting (issue 11), as the server's
are (``tests/server/test_server_layers.py``)."""

from __future__ import annotations

from pathlib import Path

import spackmon_analysis.client

CLIENT = Path(spackmon_analysis.client.__file__).resolve().parent

#: Lines a client module may have (the server's limit).
MAX_CLIENT_MODULE_LINES = 600


def test_every_client_module_can_be_read_in_one_sitting() -> None:
    """Every module of ``client/`` has at most 600 lines; none is excepted."""
    sizes = {
        path.relative_to(CLIENT).as_posix(): len(path.read_text().splitlines())
        for path in sorted(CLIENT.rglob("*.py"))
    }
    too_long = {name: n for name, n in sizes.items() if n > MAX_CLIENT_MODULE_LINES}
    assert too_long == {}, f"split these client modules along their seams: {too_long}"
    # the modules of the replay and the upload were counted
    assert {"replay.py", "replayer.py", "upload.py", "uploadspecs.py"} <= set(sizes)
