"""The ``spackmon`` command line.

Each area of the library contributes its own subcommands through a ``register``
function (``register(subparsers) -> None``) in the modules listed in
:data:`COMMAND_MODULES`; every subcommand sets ``func`` (``func(args) -> int``) as
its default. A module that cannot be imported (for example the server's, without
the ``server`` extra) leaves its commands out with a note in ``spackmon --help``.

Start-up: ``spackmon --help`` runs in a few times a bare ``python -c pass``. The command
modules import only light modules at the top (argparse, the errors, constants such as
``client/defaults.py``); a handler imports what its command uses when it runs, so ``info`` and
``replay`` load no pandas, matplotlib, FastAPI or SQLAlchemy and ``serve`` no pandas or
matplotlib (``tests/test_cli_imports.py`` checks each under ``python -X importtime``). A new
command keeps to this.

Everything a subcommand prints goes through
:class:`~spackmon_analysis.safetext.PrintableStream`: no control character from a file
or package name reaches the terminal raw.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from . import __version__
from .errors import SpackmonError
from .safetext import PrintableStream

#: Exit status after a closed stdout pipe: 128 + SIGPIPE, as a shell reports it.
BROKEN_PIPE_EXIT = 141

#: Modules whose ``register(subparsers)`` adds subcommands, in help order.
COMMAND_MODULES = (
    "spackmon_analysis.server.commands",
    "spackmon_analysis.client_commands",
    "spackmon_analysis.analysis_commands",
    "spackmon_analysis.demo",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="spackmon",
        description="Spack Monitor analytics: embedded ms1 server, client, and build-failure analysis.",
    )
    parser.add_argument("--version", action="version", version=f"spackmon {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    missing = []
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            missing_module = getattr(exc, "name", None) or ""
            if not missing_module or missing_module.split(".")[0] == "spackmon_analysis":
                raise  # our own bug, not a missing optional extra: do not hide it
            missing.append(f"{name.rsplit('.', 1)[-1]} (needs {missing_module})")
            continue
        module.register(subparsers)
    if missing:
        parser.epilog = "Unavailable commands (install the missing extras): " + "; ".join(missing)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spackmon`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # file and package names come from builds: never print their control characters raw
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PrintableStream(sys.stdout), PrintableStream(sys.stderr)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handler below
        return code
    except BrokenPipeError:
        sys.stdout, sys.stderr = streams
        return _broken_pipe()
    except SpackmonError as exc:
        print(f"spackmon {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        sys.stdout, sys.stderr = streams


def _broken_pipe() -> int:
    """The reader of stdout went away (``spackmon ... | head``): exit quietly.

    As the Python documentation recommends (signal module, "Note on SIGPIPE"), stdout
    is pointed at devnull so that the interpreter's final flush does not fail again,
    and the exit status is the shell's convention for a process killed by SIGPIPE.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by an object without a fd
        pass
    return BROKEN_PIPE_EXIT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
