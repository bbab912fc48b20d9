"""Benchmark runner: suites of cells, an atomic results store, resume, backends, reports.

Example:
    >>> from advrl.bench import Cell
    >>> cell = Cell("ppo-cartpole", "CartPole-v1", "pgd", 0.2, episodes=2)
    >>> cell.key.startswith("ppo-cartpole-pgd-0.2-s0-")
    True
"""

from advrl.bench.adversaries import TrainAdversaryCell
from advrl.bench.cells import STANDARD_EPS, Cell, attack_suite, quick_suite
from advrl.bench.leaderboard import LeaderboardSuite, leaderboard_suite, run_leaderboard
from advrl.bench.leaderboard_report import write_leaderboard_report
from advrl.bench.report import rows, write_reports
from advrl.bench.runner import RunSummary, run_cell, run_suite
from advrl.bench.store import ResultsStore

__all__ = [
    "STANDARD_EPS",
    "Cell",
    "LeaderboardSuite",
    "ResultsStore",
    "RunSummary",
    "TrainAdversaryCell",
    "attack_suite",
    "leaderboard_suite",
    "quick_suite",
    "rows",
    "run_cell",
    "run_leaderboard",
    "run_suite",
    "write_leaderboard_report",
    "write_reports",
]
