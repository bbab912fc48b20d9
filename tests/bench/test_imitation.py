"""The imitation bench: cells, suite, a tiny end-to-end cell and the rebuilt report."""

from __future__ import annotations

import pytest

from advrl.bench.imitation import ImitationCell, imitation_suite, write_imitation_report
from advrl.bench.store import ResultsStore


def test_suite_has_one_cell_per_task_seed_and_arm_with_distinct_keys():
    cells = imitation_suite(["Hopper-v5", "HalfCheetah-v5"], [0, 1], steps=1000)
    assert len(cells) == 8 and len({c.key for c in cells}) == 8
    assert {c.arm for c in cells} == {"gp", "no_gp"}
    assert {c.learning_starts for c in cells} == {100}
    assert ImitationCell("Hopper-v5", "gp").expert == "ppo-hopper"


@pytest.mark.parametrize("kwargs, message", [
    ({"task": "Pong-v5"}, "unknown task"),
    ({"arm": "wgan"}, "unknown arm"),
    ({"steps": 0}, "steps must be an int >= 1"),
    ({"steps": 100, "learning_starts": 100}, "learning_starts < steps"),
])  # fmt: skip
def test_bad_cells_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImitationCell(**{"task": "Hopper-v5", "arm": "gp", **kwargs})
    with pytest.raises(ValueError, match="unknown arm"):
        imitation_suite(["Hopper-v5"], [0], arms=["gail"])


def test_a_tiny_cell_trains_and_measures_against_the_expert():
    cell = ImitationCell("Hopper-v5", "gp", steps=120, learning_starts=40, evals=1,
                         eval_episodes=1, demo_episodes=1)  # fmt: skip
    res = cell.run()
    assert res["expert_return"] > 1000  # the zoo expert's return on its demo episode
    assert res["fraction"] == pytest.approx(res["final_return"] / res["expert_return"])
    assert [x for x, _ in res["curve"]] == [120] and res["lipschitz"][0][0] == 120
    assert res["steps_per_second"] > 0


def _result(final: float, expert: float = 1000.0) -> dict:
    return {"mean_return": final, "final_return": final, "peak_return": final,
            "expert_return": expert, "fraction": final / expert, "peak_fraction": final / expert,
            "curve": [[500, final / 2], [1000, final]], "curve_std": [[1.0], [2.0]],
            "lipschitz": [[500, 3.0], [1000, 2.0]], "steps_per_second": 20.0}  # fmt: skip


def test_report_is_rebuilt_from_the_store(tmp_path):
    store = ResultsStore(tmp_path)
    for seed, (gp, no_gp) in enumerate(((800.0, 100.0), (600.0, 300.0))):
        store.put(ImitationCell("Hopper-v5", "gp", seed, steps=1000, learning_starts=10),
                  _result(gp))  # fmt: skip
        store.put(ImitationCell("Hopper-v5", "no_gp", seed, steps=1000, learning_starts=10),
                  _result(no_gp))  # fmt: skip
    paths = write_imitation_report(tmp_path)
    md = paths["markdown"].read_text()
    assert "| Hopper-v5 | AIL + GP | 2 | 1000 | 700 | 0.70 | 0.70 | 2.00 |" in md
    assert "| Hopper-v5 | AIL, no GP | 2 | 1000 | 200 | 0.20 |" in md
    assert "steps=1000" in md and "2 seeds (0, 1)" in md
    csv = paths["csv"].read_text().splitlines()
    assert csv[0].startswith("task,arm,seed,expert_return,final_return,fraction") and len(csv) == 5
    assert paths["plot"].stat().st_size > 0
