"""The tracked benchmark harness (pytest-benchmark): shared fixtures and the checkout guard.

Run it with ``benchmarks/compare.sh [REV]`` (REV's code vs the working tree's) or directly::

    python -m pytest benchmarks/harness --benchmark-only

It lives outside ``tests/`` so the test suite never runs it. Torch runs single-threaded, as in
every other benchmark here.

When ``ADVRL_CHECKOUT`` names a checkout (``compare.sh`` sets it), the session fails unless
every ``advrl`` module it imported was loaded from that checkout: a benchmark of one revision
must not silently run another revision's code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch as th

th.set_num_threads(1)


def pytest_report_header(config) -> str:
    import advrl

    return f"advrl from {Path(advrl.__file__).resolve().parents[1]}"


def foreign_modules(root: Path) -> list[str]:
    """The imported ``advrl`` modules whose files do not lie under ``root``."""
    found = []
    for name, module in list(sys.modules.items()):
        if name != "advrl" and not name.startswith("advrl."):
            continue
        path = getattr(module, "__file__", None)
        if path is not None and not Path(path).resolve().is_relative_to(root):
            found.append(f"{name} ({Path(path).resolve()})")
    return found


def pytest_sessionfinish(session, exitstatus) -> None:
    checkout = os.environ.get("ADVRL_CHECKOUT")
    if checkout:
        foreign = foreign_modules(Path(checkout).resolve())
        if foreign:
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
            shown = ", ".join(foreign[:3]) + (
                f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            )
            print(
                f"\n{len(foreign)} advrl modules from outside {checkout}: {shown}", file=sys.stderr
            )


@pytest.fixture(scope="session")
def halfcheetah():
    import advrl.zoo

    return advrl.zoo.load("ppo-halfcheetah")
