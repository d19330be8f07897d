"""Progress bars for long pulls and replays: shown in Jupyter or on a terminal only."""

from __future__ import annotations

import sys
from typing import Any


def _show_progress(flag: bool | None, default: bool | None) -> bool:
    """``flag`` if given, else the client's setting, else whether someone is watching."""
    if flag is not None:
        return bool(flag)
    if default is not None:
        return bool(default)
    return interactive()


def interactive() -> bool:
    """True in a Jupyter kernel or when stderr is a terminal (where progress bars help);
    False in pipes, log files and CI (where they only add carriage-return noise)."""
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        try:
            shell = ipython.get_ipython()
        except Exception:  # noqa: BLE001 - any IPython oddity means "not a kernel"
            shell = None
        if shell is not None and getattr(shell, "kernel", None) is not None:
            return True  # a running Jupyter kernel: tqdm.auto draws a widget
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int | None, desc: str, show: bool, unit: str = "it") -> Any:
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)
