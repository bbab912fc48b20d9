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


def _table_imports() -> list[tuple[list[str], str]]:
    """The "Where each class lives" table: (names, import line) per row."""
    text = README.read_text().split("## Where each class lives", 1)[1]
    rows = re.findall(r"^\| (.*?) \| `(from [^`]+)` \|$", text, flags=re.MULTILINE)
    return [(re.findall(r"`(\w+)`", names), line) for names, line in rows]


def test_every_class_the_readme_names_imports_from_where_it_says():
    rows = _table_imports()
    assert len(rows) >= 15
    located = set()
    for names, line in rows:
        namespace: dict = {}
        exec(line, namespace)  # the import exactly as the README prints it
        for name in names:
            assert name in namespace, f"{line!r} does not give {name}"
            located.add(name)
    # Every CamelCase identifier the README puts in backticks is in the table.
    named = set(re.findall(r"`([A-Z][a-z]+[A-Z]\w*|[A-Z]{2,}[a-z]\w*)`", README.read_text()))
    assert named - located == set(), f"no import path in the README for {named - located}"


def test_certify_imported_from_smoothing_is_the_function():
    from advrl.agents.smoothing import certify

    assert callable(certify) and certify.__module__ == "advrl.agents.smoothing.certify"


def test_the_qarl_example_prints_the_curriculum_it_shows():
    import numpy as np

    from advrl.agents.qarl import QARL

    shown = re.search(r"concentration_history\)\s+# \[([\d. ]+)\]", README.read_text())
    assert shown, "the README's QARL example no longer shows its curriculum"
    qarl = QARL("InvertedPendulum-v5", curriculum="linear", linear_updates=4, update_every=5,
                sac_kwargs=dict(learning_starts=10, policy_kwargs=dict(net_arch=[8])))  # fmt: skip
    history = qarl.learn(iterations=2).concentration_history
    np.testing.assert_allclose(history, [float(x) for x in shown.group(1).split()])
