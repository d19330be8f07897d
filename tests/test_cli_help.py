"""``spackmon ... --help`` for every subcommand: a description, every option's default, and help
for every positional argument."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from spackmon_analysis.cli import build_parser

SKIP = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def test_every_subcommand_documents_itself_and_every_option_shows_its_default() -> None:
    walked = dict(_walk(build_parser(), ("spackmon",)))
    names = {" ".join(path) for path in walked}
    # every command is there (the server's too: the test environment has the extra)
    for command in ("serve", "users add", "users token", "users list", "info", "upload",
                    "replay", "pull", "failures", "report", "demo"):  # fmt: skip
        assert f"spackmon {command}" in names, command
    problems = []
    for path, parser in walked.items():
        where = " ".join(path)
        if not parser.description:
            problems.append(f"{where}: no description in --help")
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, SKIP):
                continue
            shown = (action.help or "") % {"default": action.default}
            if not action.option_strings:
                if not shown.strip():
                    problems.append(f"{where} {action.dest}: positional without help")
                continue
            if "default" not in shown and "required" not in shown:
                problems.append(f"{where} {action.option_strings[-1]}: no default in {shown!r}")
            assert shown.split()[0] in text  # it is what --help prints
    assert problems == []


def test_serve_help_has_a_description(capsys) -> None:
    import pytest

    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["serve", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    description = out.split("\n\n")[1]
    assert "ms1" in description and "foreground" in description
    assert "(default 5000)" in out and "(default 6000)" in out


def test_failures_and_report_share_the_client_commands_connection_options() -> None:
    # one definition: the same options with the same help (only --host's differs, it names
    # SOURCE/--db), as client_from_args reads them for every command
    walked = dict(_walk(build_parser(), ("spackmon",)))

    def options(command: str) -> dict[str, str | None]:
        parser = walked[("spackmon", command)]
        return {
            action.option_strings[-1]: action.help
            for action in parser._actions
            if action.option_strings and action.dest not in ("help", "host")
        }

    info = options("info")
    assert set(info) == {"--prefix", "--user", "--token", "--timeout", "--retries", "--auth-host"}
    for command in ("failures", "report"):
        shared = {k: v for k, v in options(command).items() if k in info}
        assert shared == info, command
