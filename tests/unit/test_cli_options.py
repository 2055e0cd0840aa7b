"""`callcue`'s command line: panel options before the subcommand apply to it, or are refused clearly."""

from __future__ import annotations

import pytest

from desktop.cli import parse_args


@pytest.mark.parametrize("argv", [["--lang", "zh_CN", "run"], ["--lang", "zh_CN"], ["run", "--lang", "zh_CN"],
                                  ["--lang", "zh_CN", "run", "--lang", "zh_CN"]])
def test_language_before_or_after_run_is_the_same(argv):
    args = parse_args(argv)
    assert args.command == "run" and args.lang == "zh_CN"


def test_every_panel_option_before_a_subcommand_reaches_it():
    args = parse_args(["--headless", "--theme", "dark", "--server-url", "https://a.example", "--agent-id", "a7",
                       "--store", "/tmp/x.sqlite3", "--connect", "baresip=127.0.0.1:4444", "demo", "--customers", "9"])
    assert (args.command, args.headless, args.theme, args.server_url, args.agent_id, args.store) == (
        "demo", True, "dark", "https://a.example", "a7", "/tmp/x.sqlite3")
    assert args.connect and args.customers == 9
    assert parse_args(["--lang", "en", "pop", "--ani", "13800138000"]).lang == "en"
    assert parse_args(["--lang", "zh_CN", "store", "rescue", "damaged.sqlite3"]).lang == "zh_CN"
    assert parse_args(["--store", "/tmp/s.sqlite3", "stats", "--from", "2026-01-01", "--to", "2026-01-02"]).store \
        == "/tmp/s.sqlite3"


@pytest.mark.parametrize(("argv", "words"), [
    (["--theme", "dark", "stats", "--from", "2026-01-01", "--to", "2026-01-02"], "--theme does not apply"),
    (["--headless", "store", "rescue", "f"], "--headless does not apply"),
    (["--lang", "en", "run", "--lang", "zh_CN"], "given twice"),
])
def test_an_option_the_subcommand_does_not_take_is_refused_with_a_message(capsys, argv, words):
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv)
    assert exit_.value.code == 2
    assert words in capsys.readouterr().err
