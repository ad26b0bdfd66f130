from typing import Any

import pytest

import cio_sync_cli.main as cli_main
from cio_sync import __version__
from cio_sync_cli.main import AddCommands, build_parser, main


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
