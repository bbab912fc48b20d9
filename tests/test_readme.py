"""The README: its test command is what CI runs, its links and class names hold.

Its examples moved to the documentation site; tests/test_docs.py runs them.
"""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)]


def test_readme_test_command_is_what_ci_runs():
    """CI's setup_and_test is the README's second command, for a venv and a set of extras."""
    ci = (ROOT / ".ci" / "run").read_text()
    template = next(line.strip() for line in ci.splitlines() if "python -m pytest" in line)
    runs = re.findall(r"^setup_and_test (\S+) (\S+) >", ci, flags=re.MULTILINE)
    assert [extras for _, extras in runs] == ["dev", "dev,ray,docs,nethack"]
    readme_test = _bash_blocks(README.read_text())[1]
    assert readme_test == template.replace('"$venv"', ".venv").replace(
        "$extras", "dev,ray,docs,nethack"
    )


def test_both_readme_commands_do_the_whole_set_up():
    for command in _bash_blocks(README.read_text()):
        assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && ")
        assert "pip install torch==2.13.0 && pip install -e " in command


def test_every_link_in_the_readme_reaches_a_file():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert len(local) >= 8, "the README no longer links the documentation pages"
    missing = [link for link in local if not (ROOT / link).is_file()]
    assert not missing, f"the README links files that do not exist: {missing}"


def test_every_class_the_readme_names_is_in_the_docs_class_table():
    table = (ROOT / "docs" / "classes.md").read_text()
    located = set(re.findall(r"^\| (.*?) \|", table, flags=re.MULTILINE))
    located = {name for row in located for name in re.findall(r"`(\w+)`", row)}
    named = set(re.findall(r"`([A-Z][A-Za-z0-9_]{2,})[`(]", README.read_text()))
    assert named - located == set(), f"no row in docs/classes.md for {sorted(named - located)}"
