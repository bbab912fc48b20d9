"""The README's Python example runs as written."""

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "the README has no Python example"
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    assert namespace["adv"].shape == (8, 11)
    assert namespace["result"].mean_return > 0


def test_readme_test_command_is_what_ci_runs():
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    command = next(line for line in ci.splitlines() if line.startswith("python -m pytest"))
    assert command in README.read_text()
