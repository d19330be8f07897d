"""``POST analyze/builds``: a build's config args, environment variables, install files and
analyzer results (each metadata key that is sent replaces what the build had for it)."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Connection, delete, select, update

from ..tables import attributes, builds, environment_variables, install_files
from ..validate import RequestError, check_lengths, decode_json
from .fields import (
    INT64_MAX,
    INT64_MIN,
    _build_id,
    _build_summary,
    _get_build,
    _require_dict,
    _short,
)

__all__ = ["analyze_build"]


def _install_prefix(paths: list[str]) -> str | None:
    for p in paths:
        marker = p.find("/.spack/")
        if marker > 0:
            return p[:marker]
    if not paths:
        return None
    try:
        common = os.path.commonpath(paths)
    except ValueError:
        return None
    if len(paths) == 1:
        common = os.path.dirname(common)
    return common or None


def _relative(path: str, prefix: str | None) -> str:
    if prefix and (path == prefix or path.startswith(prefix.rstrip("/") + "/")):
        rel = path[len(prefix) :].lstrip("/")
        return rel or "."
    return path


def _as_int(value: Any, what: str) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        return None
    if not INT64_MIN <= value <= INT64_MAX:
        raise RequestError(400, f"{what} must be an integer within 64 bits, got {_short(value)}.")
    return value


def analyze_build(conn: Connection, body: Any, caller_id: int) -> dict:
    """``POST analyze/builds``: config args, environment variables, install files, analyzer results.

    Each metadata key that is sent replaces what the build had for that key.
    """
    body = _require_dict(body)
    build_id = _build_id(body, "Missing required build id.")
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        raise RequestError(400, "metadata is required and must be a JSON object.")
    row = _get_build(conn, build_id, caller_id)
    prefix: str | None = None
    if "install_files" in metadata:
        files = metadata["install_files"]
        if not isinstance(files, dict):
            raise RequestError(400, "metadata.install_files must be an object {path: {...}}.")
        prefix = _install_prefix(list(files))
        conn.execute(delete(install_files).where(install_files.c.build_id == build_id))
        rows = []
        for path, info in files.items():
            where = f"metadata.install_files[{_short(path)}]"
            if not isinstance(info, dict):
                raise RequestError(400, f"{where} must be an object.")
            extra = {
                k: v
                for k, v in info.items()
                if k not in ("type", "mode", "owner", "group", "hash", "size", "time")
            }
            ftype = info.get("type")
            file_row = {
                "build_id": build_id,
                "path": _relative(path, prefix),
                "prefix": prefix,
                "ftype": None if ftype is None else str(ftype),
                "mode": _as_int(info.get("mode"), f"{where}.mode"),
                "owner": _as_int(info.get("owner"), f"{where}.owner"),
                "group": _as_int(info.get("group"), f"{where}.group"),
                "hash": info.get("hash") if isinstance(info.get("hash"), str) else None,
                "size": _as_int(info.get("size"), f"{where}.size"),
                "time": None if info.get("time") is None else str(info.get("time")),
                "extra": extra,
            }
            check_lengths(install_files, file_row, where)
            rows.append(file_row)
        if rows:
            conn.execute(install_files.insert(), rows)
    else:
        prefix = conn.execute(
            select(install_files.c.prefix).where(install_files.c.build_id == build_id).limit(1)
        ).scalar()
    if "config_args" in metadata:
        args = metadata["config_args"]
        if args is not None and not isinstance(args, str):
            raise RequestError(400, "metadata.config_args must be a string.")
        conn.execute(update(builds).where(builds.c.id == build_id).values(config_args=args))
    if "environment_variables" in metadata:
        env = metadata["environment_variables"]
        if not isinstance(env, dict):
            raise RequestError(
                400, "metadata.environment_variables must be an object {NAME: value}."
            )
        conn.execute(
            delete(environment_variables).where(environment_variables.c.build_id == build_id)
        )
        rows = [
            {"build_id": build_id, "name": str(k), "value": "" if v is None else str(v)}
            for k, v in env.items()
        ]
        if rows:
            conn.execute(environment_variables.insert(), rows)
    for analyzer, results in metadata.items():
        if analyzer in ("install_files", "config_args", "environment_variables"):
            continue
        if not isinstance(results, list):
            raise RequestError(400, f"metadata.{analyzer} must be a list of results.")
        check_lengths(attributes, {"analyzer": analyzer}, "metadata")
        conn.execute(
            delete(attributes).where(
                attributes.c.build_id == build_id, attributes.c.analyzer == analyzer
            )
        )
        rows = []
        for i, item in enumerate(results):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise RequestError(
                    400, f"metadata.{analyzer}[{i}] must be an object with a 'name' string."
                )
            value, json_value, binary = (
                item.get("value"),
                item.get("json_value"),
                item.get("binary_value"),
            )
            if isinstance(json_value, str):
                where = f"metadata.{analyzer}[{i}].json_value"
                json_value = decode_json(json_value, what=where, field=where)
            ifile = item.get("install_file")
            rows.append(
                {
                    "build_id": build_id,
                    "analyzer": analyzer,
                    "name": item["name"],
                    "install_file": _relative(ifile, prefix) if isinstance(ifile, str) else None,
                    "value": None
                    if value is None
                    else (value if isinstance(value, str) else str(value)),
                    "json_value": json_value,
                    "binary_value": binary.encode("latin-1", "replace")
                    if isinstance(binary, str)
                    else None,
                }
            )
        if rows:
            conn.execute(attributes.insert(), rows)
    return {"build": _build_summary(row)}
