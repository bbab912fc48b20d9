"""The command line's guarantees: one place for the shared run settings, ``--address``
wherever ``--backend ray`` is, and a complete ``--help`` for every command."""

import ast
import dataclasses
import inspect
import subprocess
import sys
import textwrap
import typing

import pytest

from advrl import cli
from advrl.cli import COMMANDS, main, parse
from advrl.cli_args import RunSettings

SHARED = {f.name for f in dataclasses.fields(RunSettings)}
RUNS_CELLS = [name for name, (cls, _) in COMMANDS.items() if "run" in typing.get_type_hints(cls)]


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring: the string literal right after its annotation (PEP 257's
    attribute docstrings, as tyro reads them), over the class and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__[:-1]):
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        for node, after in zip(body, body[1:] + [None], strict=True):
            if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr):
                docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def help_entries(text: str) -> dict[str, str]:
    """tyro's help (boxed on a terminal, plain otherwise) as {invocation: help text}: an entry
    starts on a line whose first word is a flag, and runs on over the deeper-indented lines
    below it."""
    entries: dict[str, str] = {}
    current = None
    for raw in text.splitlines():
        line = raw.replace("│", " ").rstrip()
        content, indent = line.strip(), len(line) - len(line.lstrip())
        if content.startswith("-") and indent <= 4 and not set(content) <= set("-─ "):
            current, _, rest = content.partition("  ")
            entries[current] = rest
        elif current is not None and content and indent > 4:
            entries[current] += " " + content
        else:
            current = None
    return {k.strip(): " ".join(v.split()) for k, v in entries.items()}


def test_the_run_settings_live_in_one_place():
    for name, (cls, _) in COMMANDS.items():
        own = {f.name for f in dataclasses.fields(cls)}
        assert not own & SHARED, f"{name} repeats {own & SHARED}; they belong to RunSettings"
    assert set(RUNS_CELLS) == set(COMMANDS) - {"list"}


@pytest.mark.parametrize("name", RUNS_CELLS)
def test_every_bench_command_with_a_ray_backend_takes_address(name):
    args = parse([*name.split(), "--backend", "ray", "--address", "ray://head:10001"])
    assert (args.run.backend, args.run.address) == ("ray", "ray://head:10001")
    assert parse(name.split()).run.address is None


@pytest.mark.parametrize("name", RUNS_CELLS)
def test_an_address_without_ray_is_refused_before_any_work(name, tmp_path, capsys):
    out = tmp_path / "run"
    status = main([*name.split(), "--address", "ray://head:10001", "--out", str(out)])
    assert status == 2 and not out.exists()
    assert capsys.readouterr().err == (
        "advrl: error: --address applies to --backend ray only, got --backend local\n"
    )


def test_top_level_help_lists_every_command(capsys):
    text = " ".join(_help([], capsys).split())
    for name in COMMANDS:
        for word in name.split():
            assert word in text, word
    assert "certify" in text and "leaderboard" in text


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_flag_of_every_command_has_its_help_default_and_choices(name, capsys):
    cls = COMMANDS[name][0]
    entries = help_entries(_help(name.split(), capsys))
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = [(f, hints[f.name], field_docs(cls)) for f in dataclasses.fields(cls)]
    if "run" in hints:  # the shared settings, shown in their own group
        run_hints = typing.get_type_hints(RunSettings, include_extras=True)
        fields.remove(next(x for x in fields if x[0].name == "run"))
        fields += [(f, run_hints[f.name], field_docs(RunSettings))
                   for f in dataclasses.fields(RunSettings)]  # fmt: skip
    assert set(entries) - {"-h, --help"} == {
        next(k for k in entries if k.split()[0].rstrip(",") == "--" + f.name.replace("_", "-"))
        for f, _, _ in fields
    }
    for f, hint, docs in fields:
        flag = "--" + f.name.replace("_", "-")
        invocation = next(k for k in entries if k.split()[0].rstrip(",") == flag)
        assert docs.get(f.name), f"{name} {flag} has no docstring, so no help"
        assert entries[invocation].startswith(docs[f.name]), (flag, entries[invocation])
        assert "(default: " in entries[invocation], flag
        choices = [a for a in typing.get_args(hint) if typing.get_origin(a) is typing.Literal]
        if typing.get_origin(hint) is typing.Literal or choices:
            allowed = typing.get_args(choices[0] if choices else hint)
            assert "{" + ",".join(allowed) + "}" in invocation, invocation


def test_help_shows_each_commands_own_defaults(capsys):
    entries = help_entries(_help(["bench", "cheap-talk"], capsys))
    assert entries["--out PATH"].endswith("(default: runs/cheap_talk)")
    assert entries["--workers INT"].endswith("(default: 1)")
    entries = help_entries(_help(["bench", "quick"], capsys))
    assert entries["--workers INT"].endswith("(default: all cores)")


def test_a_mistyped_flag_names_the_one_meant(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "attacks", "--epi", "3"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "advrl: error: unrecognized arguments: --epi 3; --epi: did you mean --episodes?\n"
    )


def test_importing_the_cli_imports_no_torch():
    code = "import sys, advrl.cli; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_parse_runs_nothing_and_returns_the_typed_flags():
    args = parse(["bench", "leaderboard", "--no-use-shipped", "--eps", "0.1", "--workers", "2"])
    assert type(args) is cli.LeaderboardArgs
    assert (args.use_shipped, args.eps, args.run.workers) == (False, 0.1, 2)
