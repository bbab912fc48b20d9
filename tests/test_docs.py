"""The documentation site: every example runs, the class table is right, the site builds.

Every ```python block of every page under docs/ runs, in page order with one namespace and
one fresh working directory per page (examples write under ``runs/``). A block right after
``<!-- requires: nle -->`` (or ``ray``, or several, comma-separated) is skipped where one of
those packages is missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(
    p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if "_build" not in p.parts
)
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
REQUIRES = re.compile(r"<!--\s*requires:\s*([\w.\-, ]+?)\s*-->")
# What a fence may be labelled: ```python blocks run; the others are shell, text and MyST
# directives. Any other label (```py, ```pycon, ```{code-block}) would escape the runner.
FENCE_LABELS = {"python", "bash", "text", "{toctree}", "{eval-rst}"}
EXTRAS = {"nle": "nethack", "ray": "ray"}  # what a block may require, and the extra with it


@dataclass(frozen=True)
class Block:
    page: str
    index: int
    line: int  # line of the code's first line in the page
    code: str
    requires: tuple[str, ...]

    @property
    def missing(self) -> list[str]:
        return [name for name in self.requires if importlib.util.find_spec(name) is None]


def page_blocks(page: str) -> list[Block]:
    text = (DOCS / page).read_text()
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1).strip() != "python":
            continue
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        requires = REQUIRES.fullmatch(before.strip())
        names = tuple(n.strip() for n in requires.group(1).split(",")) if requires else ()
        line = text.count("\n", 0, match.start(2)) + 1
        blocks.append(Block(page, len(blocks), line, match.group(2), names))
    return blocks


BLOCKS = [block for page in PAGES for block in page_blocks(page)]


# What each page's examples must leave behind, checked right after the first block that
# leaves every name of a check defined (a later block may reuse the names).


def _first_steps(ns: dict[str, Any]) -> None:
    assert 0 < ns["info"]["attack_norm"] <= 0.1 + 1e-6


def _attacks(ns: dict[str, Any]) -> None:
    assert tuple(ns["adv"].shape) == (8, 11)
    assert float(ns["adv"].abs().max()) <= 0.075 + 1e-6  # obs was zeros: inside the ball
    assert ns["result"].mean_return > 0
    assert {"obs_clean", "attack_norm"} <= set(ns["info"])


def _vec_attack(ns: dict[str, Any]) -> None:
    assert ns["obs"].shape == (4, 11)
    assert 0 < ns["infos"][0]["attack_norm"] <= 0.075 + 1e-6


def _vector_api(ns: dict[str, Any]) -> None:
    assert ns["obs"].shape == (4, 11) and type(ns["envs"]).__module__ == "advrl.attacks.vector"
    assert (ns["info"]["attack_norm"] > 0).all()


def _learned_attack(ns: dict[str, Any]) -> None:
    delta = (ns["adv"] - ns["obs_t"]).abs()
    assert float(delta.max()) <= 0.075 + 1e-6 and float(delta.max()) > 0


def _certificate(ns: dict[str, Any]) -> None:
    expected = list(ns["cert"].expected)
    assert expected == sorted(expected, reverse=True) and expected[0] > expected[-1]
    assert ns["attacked"].returns.mean() >= expected[-1]  # the bound holds at B = 0.5


def _atla(ns: dict[str, Any]) -> None:
    assert (ns["atla"].victim.num_timesteps, ns["atla"].adversary.num_timesteps) == (64, 64)


def _rarl(ns: dict[str, Any]) -> None:
    assert Path("runs/rarl-pendulum/protagonist.zip").is_file()


def _curriculum(ns: dict[str, Any]) -> None:
    """The QARL example prints the curriculum that its comment shows."""
    shown = re.search(r"print\(history\)\s+# \[([\d. ]+)\]", (DOCS / "defenses.md").read_text())
    assert shown, "the QARL example no longer shows its curriculum"
    np.testing.assert_allclose(ns["history"], [float(x) for x in shown.group(1).split()])


def _orpo(ns: dict[str, Any]) -> None:
    assert ns["orpo"].num_timesteps == ns["action_kl"].num_timesteps == 64


def _barfi(ns: dict[str, Any]) -> None:
    assert len(ns["history"]) == 2 and Path("runs/barfi.safetensors").is_file()


def _testbed_info(ns: dict[str, Any]) -> None:
    assert {"reward_true", "reward_proxy", "reward_forward"} <= set(ns["info"])


def _proxy(ns: dict[str, Any]) -> None:
    assert len(ns["callback"].episodes) > 0


def _reward_models(ns: dict[str, Any]) -> None:
    assert len(ns["reports"]) == 3
    assert ns["reports"][0].held_out_clean_accuracy > 0.5  # better than chance


def _force_game(ns: dict[str, Any]) -> None:
    assert ns["rewards"]["adversary"] == -ns["rewards"]["protagonist"]


def _agent_view(ns: dict[str, Any]) -> None:
    assert ns["venv"].num_envs == 4


def _act(ns: dict[str, Any]) -> None:
    assert len(ns["result"].history) == 1


def _bench_store(ns: dict[str, Any]) -> None:
    assert ns["summary"].skipped == [cell.key for cell in ns["cells"]]
    assert ns["summary"].computed == []
    assert all(Path(path).is_file() for path in ns["reports"].values())
    assert sorted(row["attack"] for row in ns["table"]) == ["none", "pgd"]
    clean = next(row for row in ns["table"] if row["attack"] == "none")
    assert clean["mean_return"] > 100  # the zoo CartPole policy balances


Check = tuple[tuple[str, ...], Callable[[dict[str, Any]], None]]
CHECKS: dict[str, list[Check]] = {
    "getting-started.md": [(("info",), _first_steps)],
    "attacks.md": [
        (("adv", "result"), _attacks),
        (("venv", "infos"), _vec_attack),
        (("envs",), _vector_api),
        (("optimal", "obs_t"), _learned_attack),
    ],
    "defenses.md": [
        (("cert", "attacked"), _certificate),
        (("atla",), _atla),
        (("rarl",), _rarl),
        (("qarl", "history"), _curriculum),
        (("orpo", "action_kl"), _orpo),
        (("agent",), _barfi),
    ],
    "testbeds.md": [
        (("cheetah",), _testbed_info),
        (("callback",), _proxy),
        (("ensemble", "reports"), _reward_models),
    ],
    "multi-agent.md": [
        (("game", "rewards"), _force_game),
        (("venv",), _agent_view),
        (("result",), _act),
    ],
    "benchmarks.md": [(("summary", "table"), _bench_store)],
}


@dataclass
class PageRun:
    """The state of one page's examples: its namespace, working directory and progress."""

    workdir: Path
    namespace: dict[str, Any] = field(default_factory=dict)
    done: int = 0  # blocks run (or skipped) so far
    failed: int | None = None  # the block that raised, if one did
    checked: set[int] = field(default_factory=set)  # indices into CHECKS[page]


_RUNS: dict[str, PageRun] = {}


def _run(block: Block, run: PageRun) -> None:
    code = "\n" * (block.line - 1) + block.code  # tracebacks point at the page's lines
    exec(compile(code, str(DOCS / block.page), "exec"), run.namespace)
    for i, (names, check) in enumerate(CHECKS.get(block.page, [])):
        if i not in run.checked and all(name in run.namespace for name in names):
            run.checked.add(i)
            check(run.namespace)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.page}-{b.index}" for b in BLOCKS])
def test_every_example_on_the_site_runs(block, tmp_path_factory, monkeypatch):
    if block.page not in _RUNS:
        _RUNS[block.page] = PageRun(tmp_path_factory.mktemp(Path(block.page).stem))
    run = _RUNS[block.page]
    monkeypatch.chdir(run.workdir)
    blocks = page_blocks(block.page)
    while run.done <= block.index:  # the page's earlier blocks first, if not run yet
        if run.failed is not None:
            pytest.skip(f"block {run.failed} of {block.page} failed")
        current = blocks[run.done]
        run.done += 1
        if current.missing:
            continue
        try:
            _run(current, run)
        except BaseException:
            run.failed = current.index
            raise
    if block.missing:
        extras = ",".join(EXTRAS[name] for name in block.missing)
        pytest.skip(f"needs {', '.join(block.missing)}: pip install -e '.[{extras}]'")
    if block.index == len(blocks) - 1:
        checks = CHECKS.get(block.page, [])
        never = [names for i, (names, _) in enumerate(checks) if i not in run.checked]
        assert not never, f"{block.page}: the examples never define {never}"


def test_the_site_has_examples_and_requirement_marks_are_known():
    assert len(BLOCKS) >= 15
    assert {b.page for b in BLOCKS} >= {"attacks.md", "defenses.md", "testbeds.md",
                                        "multi-agent.md", "benchmarks.md"}  # fmt: skip
    for block in BLOCKS:
        for name in block.requires:
            assert name in EXTRAS, f"{block.page}:{block.line}: unknown requirement {name!r}"
    assert any(b.requires == ("nle",) for b in BLOCKS), "the NetHack example lost its mark"


def test_every_code_fence_is_a_kind_the_runner_knows():
    for page in PAGES:
        for match in FENCE.finditer((DOCS / page).read_text()):
            label = match.group(1).strip()
            assert label in FENCE_LABELS, f"{page}: fence ```{label} is neither run nor allowed"


def _table_imports() -> list[tuple[list[str], str]]:
    """The "Where each class lives" table: (names, import line) per row."""
    text = (DOCS / "classes.md").read_text()
    rows = re.findall(r"^\| (.*?) \| `(from [^`]+)` \|$", text, flags=re.MULTILINE)
    return [(re.findall(r"`(\w+)`", names), line) for names, line in rows]


def test_every_class_the_site_names_imports_from_where_the_table_says():
    rows = _table_imports()
    assert len(rows) >= 25
    located = set()
    for names, line in rows:
        namespace: dict = {}
        exec(line, namespace)  # the import exactly as the table prints it
        for name in names:
            assert name in namespace, f"{line!r} does not give {name}"
            located.add(name)
    # Every class the guide pages put in backticks (``Name`` or ``Name(...)``) is in the table.
    named = set()
    for page in PAGES:
        if not page.startswith("api/"):
            named |= set(re.findall(r"`([A-Z][A-Za-z0-9_]{2,})[`(]", (DOCS / page).read_text()))
    assert named - located == set(), f"no row in docs/classes.md for {sorted(named - located)}"


def test_certify_imported_from_smoothing_is_the_function():
    from advrl.agents.smoothing import certify

    assert callable(certify) and certify.__module__ == "advrl.agents.smoothing.certify"


def _public_modules() -> set[str]:
    found = set()
    for package in ("advrl", "advrl.envs", "advrl.attacks", "advrl.agents"):
        found.add(package)
        path = importlib.import_module(package).__path__
        for info in pkgutil.walk_packages(path, package + ".", onerror=lambda name: None):
            if not any(part.startswith("_") for part in info.name.split(".")):
                found.add(info.name)
    return found


def test_the_api_reference_documents_every_public_module():
    documented = set()
    for page in (DOCS / "api").glob("*.md"):
        documented |= set(re.findall(r"^\.\. automodule:: (\S+)$", page.read_text(), re.MULTILINE))
    missing = _public_modules() - documented
    assert not missing, f"add an automodule for each of {sorted(missing)} to docs/api/*.md"
    assert not documented - _public_modules(), "docs/api names modules that do not exist"


@pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("myst_parser") is None,
    reason="needs the docs extra (sphinx, myst-parser): pip install -e '.[docs]'",
)
def test_the_site_builds_with_warnings_as_errors(tmp_path):
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
               str(DOCS), str(tmp_path / "html")]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, f"sphinx failed after {seconds:.0f} s:\n{done.stderr[-5000:]}"
    assert (tmp_path / "html" / "api" / "attacks.html").is_file()
    print(f"docs built in {seconds:.1f} s")
