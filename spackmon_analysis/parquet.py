"""A :class:`~spackmon_analysis.frames.MonitorData` as a folder of Parquet files, for other
engines (DuckDB, Polars, Spark) and back (``data.to_parquet(dir)``,
``MonitorData.from_parquet(dir)``).

The folder holds one file per frame, ``<frame>.parquet``: the five frames (``specs``,
``dependencies``, ``builds``, ``phases``, ``events``) and the three history frames
(``attempts``, ``attempt_phases``, ``attempt_events``; derived or given, always written, so
another engine sees them too), and ``manifest.json``: the format version, ``source``,
``problems``, ``notes``, the rules file (copied beside it as ``rules.yaml``), whether the
history frames were the source's own, and each frame's columns with their pandas dtypes.

Reading trusts nothing of a folder someone else wrote: nothing is unpickled (the manifest is
JSON, containers are JSON text), the frame files have fixed names, and the manifest's
``rules`` must be a bare file name inside the folder (``../x`` or an absolute path is a
:class:`~spackmon_analysis.errors.ConfigError` naming the manifest).

Columns are written with their own Parquet types: text as strings, categoricals as
dictionary-encoded strings, ``Int64`` as nullable integers, times as UTC timestamps (ns).
Columns holding Python containers (``builds.tags``, ``events.classes`` tuples, an event's
``pre_context``/``post_context`` lists) are JSON text in the file (``["a", "b"]``: DuckDB's
JSON functions read it), and the manifest says which container each was; reading restores
them, and the dtypes (categories in their order, the string storage) exactly.

Needs ``pyarrow`` (the ``parquet`` extra); without it the two functions raise
:class:`~spackmon_analysis.errors.ConfigError` saying what to install.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .records import ATTEMPT_FRAMES, FRAME_NAMES

__all__ = ["write_parquet", "read_parquet", "PARQUET_FORMAT", "MANIFEST"]

#: The folder layout's version, in ``manifest.json`` (raised when the layout changes).
PARQUET_FORMAT = 1
#: The manifest's file name.
MANIFEST = "manifest.json"
#: The copy of the failure-class rules file of the data, beside the manifest.
RULES_COPY = "rules.yaml"
_FRAMES = (*FRAME_NAMES, *ATTEMPT_FRAMES)


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise ConfigError(
            "Parquet export needs pyarrow: pip install 'spackmon-analysis[parquet]' "
            f"(or pip install pyarrow): {exc}"
        ) from None
    return pyarrow


def write_parquet(
    frames: dict[str, Any],
    directory: str | os.PathLike[str],
    *,
    source: str,
    problems: list[tuple[str, str]],
    notes: list[tuple[str, str]],
    rules: Any,
    attempts_given: bool,
) -> Path:
    """Write ``frames`` (frame name -> DataFrame, every name of :data:`_FRAMES`) and the
    manifest into ``directory`` (created; an existing folder's other files are left alone,
    the frame files and manifest replaced). Returns the folder."""
    pa = _pyarrow()
    import pyarrow.parquet as pq

    out = Path(directory).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"to_parquet: {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"to_parquet: cannot create the folder {out} ({exc.strerror})") from None
    described: dict[str, Any] = {}
    written: list[tuple[Path, Path]] = []
    try:
        for name in _FRAMES:
            frame, columns = _encode(frames[name])
            described[name] = columns
            table = pa.Table.from_pandas(frame, preserve_index=False)
            final = out / f"{name}.parquet"
            partial = out / f".{name}.parquet.partial"
            pq.write_table(table, partial)
            written.append((partial, final))
        rules_source = getattr(rules, "source", None) if rules is not None else None
        rules_copy = None
        if rules_source and Path(rules_source).is_file():
            # a copy inside the folder: the reader never follows a path out of it
            partial = out / f".{RULES_COPY}.partial"
            partial.write_bytes(Path(rules_source).read_bytes())
            written.append((partial, out / RULES_COPY))
            rules_copy = RULES_COPY
        manifest = {
            "format": PARQUET_FORMAT,
            "writer": "spackmon-analysis",
            "source": source,
            "rules": rules_copy,
            "rules_source": rules_source,
            "problems": [list(p) for p in problems],
            "notes": [list(n) for n in notes],
            "attempts_given": attempts_given,
            "frames": described,
        }
        partial = out / f".{MANIFEST}.partial"
        partial.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        written.append((partial, out / MANIFEST))
    except OSError as exc:
        for partial, _final in written:
            partial.unlink(missing_ok=True)
        raise ConfigError(f"to_parquet: cannot write into {out} ({exc})") from None
    # every file is complete: only now do they replace what the folder held
    for partial, final in written:
        os.replace(partial, final)
    return out


def _encode(frame: Any) -> tuple[Any, dict[str, Any]]:
    """The frame as Parquet can hold it, and the manifest entry of its columns."""
    import pandas as pd

    frame = frame.reset_index(drop=True)
    columns: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for name in frame.columns:
        series = frame[name]
        entry: dict[str, Any] = {"dtype": str(series.dtype)}
        if isinstance(series.dtype, pd.CategoricalDtype):
            # written dictionary-encoded; the manifest keeps every category in its order
            entry["categories"] = [str(c) for c in series.cat.categories]
        elif series.dtype == object:
            values = series.tolist()
            present = [v for v in values if not _missing(v)]
            if any(isinstance(v, float) for v in values if _missing(v)):
                # the frame marks a missing cell NaN: a None beside it is JSON null
                entry["missing"] = "nan"
            if all(isinstance(v, str) for v in present) and "missing" not in entry:
                entry["container"] = "text"
                series = pd.Series(
                    pd.array([v if isinstance(v, str) else None for v in values], "string")
                )
            else:
                kinds = {type(v).__name__ for v in present}
                entry["container"] = kinds.pop() if len(kinds) == 1 else "json"
                series = pd.Series(
                    pd.array(
                        [
                            None
                            if _missing(v) and (v is not None or "missing" not in entry)
                            else json.dumps(v, ensure_ascii=False, default=str)
                            for v in values
                        ],
                        "string",
                    )
                )
        columns[str(name)] = entry
        out[str(name)] = series
    return pd.DataFrame(out, index=frame.index), columns


def _missing(value: Any) -> bool:
    """None, or a float NaN (a container is never missing)."""
    return value is None or (isinstance(value, float) and value != value)


def read_parquet(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The keyword arguments of ``MonitorData(...)`` for a folder :func:`write_parquet` wrote
    (``attempts`` only when the source gave its own history frames). Raises
    :class:`~spackmon_analysis.errors.ConfigError` naming the folder or file that is missing,
    of another format, or damaged."""
    _pyarrow()
    import pyarrow.parquet as pq

    folder = Path(directory).expanduser()
    manifest_path = folder / MANIFEST
    if not folder.is_dir():
        raise ConfigError(f"from_parquet: {folder}: no such folder")
    _refuse_a_link_out_of(folder, manifest_path)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"from_parquet: {manifest_path}: missing (not a folder written by to_parquet)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"from_parquet: {manifest_path}: cannot read it ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != PARQUET_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ConfigError(
            f"from_parquet: {manifest_path}: format {found!r}, this version reads "
            f"format {PARQUET_FORMAT}"
        )
    described = manifest.get("frames") or {}
    frames: dict[str, Any] = {}
    for name in _FRAMES:
        path = folder / f"{name}.parquet"
        if name not in described:
            raise ConfigError(f"from_parquet: {manifest_path}: no entry for frame {name!r}")
        _refuse_a_link_out_of(folder, path)
        try:
            table = pq.read_table(path)
        except FileNotFoundError:
            raise ConfigError(f"from_parquet: {path}: missing") from None
        except Exception as exc:  # pyarrow's errors for a damaged or foreign file
            raise ConfigError(
                f"from_parquet: {path}: not a readable Parquet file ({exc})"
            ) from None
        frames[name] = _decode(table.to_pandas(), described[name], path)
    kwargs: dict[str, Any] = {name: frames[name] for name in FRAME_NAMES}
    kwargs["source"] = str(manifest.get("source") or "")
    kwargs["problems"] = [tuple(p) for p in manifest.get("problems") or []]
    kwargs["notes"] = [tuple(n) for n in manifest.get("notes") or []]
    rules = manifest.get("rules")
    if rules is not None and (
        not isinstance(rules, str) or rules in ("", ".", "..") or Path(rules).name != rules
    ):
        # the folder may come from someone else: no path out of it is followed
        raise ConfigError(
            f"from_parquet: {manifest_path}: rules {rules!r} is not a file name inside the folder"
        )
    if rules:
        _refuse_a_link_out_of(folder, folder / rules)
    if rules and (folder / rules).is_file():
        from .logs import load_rules

        kwargs["rules"] = load_rules(folder / rules)
    elif rules or manifest.get("rules_source") not in (None, "<rules>"):
        kwargs["notes"].append(
            (
                str(folder / rules) if rules else str(manifest.get("rules_source")),
                "the failure-class rules file of the saved data is gone: packaged rules used",
            )
        )
    if manifest.get("attempts_given"):
        kwargs["attempts"] = {name: frames[name] for name in ATTEMPT_FRAMES}
    return kwargs


def _refuse_a_link_out_of(folder: Path, path: Path) -> None:
    """The folder may come from someone else (a tarball, a shared drive): a file in it that is
    a symbolic link to a place outside the folder is refused, not followed, so that reading
    the export never reads another file of the user's (a key, a config) as a frame or rules."""
    if not path.is_symlink():
        return
    target = path.resolve()
    if not target.is_relative_to(folder.resolve()):
        raise ConfigError(
            f"from_parquet: {path}: a link to {target}, outside the folder: not followed"
        )


def _decode(frame: Any, columns: dict[str, Any], path: Path) -> Any:
    import pandas as pd

    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"from_parquet: {path}: no column(s) {', '.join(missing)}")
    out: dict[str, Any] = {}
    for name, entry in columns.items():
        series = frame[name]
        dtype = entry.get("dtype", "object")
        if "categories" in entry:
            values = series.astype(object).where(series.notna(), None)
            cats = pd.Index(entry["categories"], dtype="str")
            series = pd.Series(pd.Categorical(values, categories=cats), name=name)
        elif "container" in entry:
            container = entry["container"]
            raw = series.astype(object).where(series.notna(), None).tolist()
            values = raw
            if container != "text":
                values = [None if v is None else json.loads(v) for v in raw]
                if container == "tuple":
                    values = [tuple(v) if isinstance(v, list) else v for v in values]
            if entry.get("missing") == "nan":  # NULL: NaN; JSON null: None
                values = [
                    float("nan") if cell is None else v for cell, v in zip(raw, values, strict=True)
                ]
            series = pd.Series(values, dtype=object, name=name)
        elif str(series.dtype) != dtype:
            try:
                series = series.astype(dtype)
            except (TypeError, ValueError):
                pass  # a dtype this pandas cannot make: the contract's conforming decides
        out[name] = series
    return pd.DataFrame(out, columns=list(columns))
