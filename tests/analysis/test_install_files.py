"""An install prefix's other files as builds columns: configure args, build environment,
archived files (the real Spack 0.16.3/0.17.1/0.22.1 prefixes in tests/data/installs)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import spackmon_analysis as sma

INSTALLS = Path(__file__).resolve().parent.parent / "data" / "installs"


def test_configure_args_build_env_and_archived_files() -> None:
    data = sma.load_install_tree(INSTALLS)
    rows = {(r["spec_name"], r["build"][:7]): r for _, r in data.builds.iterrows()}
    base = rows[("tinybase", "oy5qloz")]
    assert base["configure_args"] == ""  # Spack 0.16.3 wrote the file, empty: no extra args
    assert base["archived_files"] == ["spack-src/removed_la_files.txt"]
    assert base["build_env"]["SPACK_SHORT_SPEC"].startswith("tinybase@1.0%gcc@12.2.0")
    broken = rows[("tinybroken", "bgd6kv3")]  # a failed stage directory: its build env
    assert broken["build_env"]["SPACK_SHORT_SPEC"].startswith("tinybroken@0.9")
    assert pd.isna(broken["archived_files"]) and pd.isna(broken["configure_args"])
    util = rows[("tinyutil", "olb4tah")]  # 0.22.1: no configure args file (a Makefile package)
    assert pd.isna(util["configure_args"]) and "PATH" in util["build_env"]
