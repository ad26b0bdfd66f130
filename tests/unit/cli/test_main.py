from importlib.metadata import EntryPoint
from typing import Any

import pytest

import cio_sync_cli.main as cli_main
from cio_sync import __version__
from cio_sync_cli.errors import CommandError
from cio_sync_cli.main import COMMAND_GROUP, AddCommands, build_parser, main, plugin_commands
from cio_sync_cli.options import settle


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"cio-sync {__version__}"


def test_no_command_shows_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: cio-sync" in capsys.readouterr().out


def test_plugin_commands_come_from_the_entry_point_group() -> None:
    """The local stack's commands are found through the entry-point group; the CLI never names them."""
    commands = build_parser().format_help()
    assert all(name in commands for name in ("local", "emulator", "members", "imports", "reconcile", "dlq"))


def test_a_plugin_that_fails_to_load_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> list[AddCommands]:
        raise ImportError("no module named cio_sync_local")

    monkeypatch.setattr(cli_main, "plugin_commands", broken)
    with pytest.raises(ImportError, match="cio_sync_local"):
        main(["members", "show", "0" * 24])


def test_plugins_add_their_commands() -> None:
    def add_hello(subparsers: Any) -> None:
        subparsers.add_parser("hello").set_defaults(handler=lambda args: 7)

    parser = build_parser(plugins=[add_hello])
    args = parser.parse_args(["hello"])
    assert args.handler(args) == 7


MEMBER = "5f0c8e2a9b1d4c3e2f1a0b9c"


@pytest.mark.parametrize(
    "argv",
    [
        ["--stack", "staging", "--region", "eu-west-1", "--json", "members", "show", MEMBER],
        ["members", "show", MEMBER, "--stack", "staging", "--region", "eu-west-1", "--json"],
        ["--stack", "staging", "members", "show", MEMBER, "--json", "--region", "eu-west-1"],
    ],
)
def test_global_options_go_before_or_after_the_command(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)  # --region sets it; restored after the test
    args = settle(build_parser(plugins=[]).parse_args(argv))
    assert (args.stack, args.region, args.json, args.member_id) == ("staging", "eu-west-1", True, MEMBER)


def test_global_options_left_out_take_their_defaults() -> None:
    args = settle(build_parser(plugins=[]).parse_args(["dlq", "list"]))
    assert (args.stack, args.region, args.json) == (None, None, False)


def test_a_command_whose_extra_is_missing_stays_listed_and_names_the_extra(
    capsys: pytest.CaptureFixture[str],
) -> None:
    point = EntryPoint("local", "cio_sync_no_such_module:add [local]", COMMAND_GROUP)
    parser = build_parser(plugins=plugin_commands([point]))
    assert "pip install 'cio-sync[local]'" in parser.format_help()
    args = parser.parse_args(["local", "up", "--no-demo"])
    with pytest.raises(CommandError, match=r"needs the 'local' extra .*pip install 'cio-sync\[local\]'"):
        args.handler(args)


def test_a_missing_module_of_our_own_is_never_taken_for_a_missing_extra() -> None:
    point = EntryPoint("local", "cio_sync_cli.no_such_module:add [local]", COMMAND_GROUP)
    with pytest.raises(ModuleNotFoundError, match=r"cio_sync_cli\.no_such_module"):
        plugin_commands([point])


def test_the_exit_codes_are_in_the_help() -> None:
    text = build_parser(plugins=[]).format_help()
    assert "exit status:" in text
    for code in ("0", "1", "2", "130", "141"):
        assert f"\n  {code} " in text
