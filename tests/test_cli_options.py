"""The command line's common options go before or after the command's name (a newcomer types them after)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder import cli, notebooks


@pytest.fixture
def parsed(monkeypatch):
    """Run cli.main with every command replaced by one that records what it was given."""
    seen = []
    for name in dir(cli):
        if name.startswith("cmd_"):
            monkeypatch.setattr(cli, name, lambda args: seen.append(args) or 0)
    return lambda *argv: (cli.main(list(argv)), seen.pop())[1]


@pytest.mark.parametrize("argv", [
    ["grade", "01_finite_differences", "--course", "{dir}"],
    ["--course", "{dir}", "grade", "01_finite_differences"],
    ["--course", "/elsewhere", "grade", "01_finite_differences", "--course", "{dir}"],  # the later one wins
])
def test_course_before_or_after_the_command(parsed, tmp_path, argv):
    args = parsed(*[a.format(dir=tmp_path) for a in argv])
    assert args.course == tmp_path.resolve() and args.assignment == "01_finite_differences"


def test_defaults_without_common_options(parsed):
    args = parsed("feedback", "01_finite_differences")
    assert args.course == notebooks.ROOT and args.db is None and args.release is False


@pytest.mark.parametrize("command", [["release", "A"], ["collect", "A"], ["feedback", "A", "--release"]])
def test_db_and_exchange_after_the_command(parsed, tmp_path, command):
    args = parsed(*command, "--db", "sqlite:////tmp/g.db", "--exchange", str(tmp_path), "--course", str(tmp_path))
    assert args.db == "sqlite:////tmp/g.db" and args.exchange == tmp_path and args.course == tmp_path.resolve()
    args = parsed("--db", "sqlite:////tmp/g.db", *command)
    assert args.db == "sqlite:////tmp/g.db" and args.exchange is None


def test_collect_without_a_path_is_from_the_exchange(parsed):
    assert parsed("collect", "A").path is None
    assert parsed("collect", "A", "downloads.zip").path == Path("downloads.zip")


def test_db_is_refused_where_it_is_not_used(parsed, capsys):
    with pytest.raises(SystemExit):
        parsed("export", "grades.csv", "--db", "sqlite:////tmp/g.db")
    assert "--db is not supported" in capsys.readouterr().err
