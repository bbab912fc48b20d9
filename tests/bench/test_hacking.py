"""The hacking suite: its cells, validation and report (training itself: test_cli, agents)."""

import json

import numpy as np
import pytest

from advrl.bench.hacking import TESTBEDS, HackingCell, hacking_suite, write_hacking_report
from advrl.bench.store import ResultsStore


def test_action_kl_on_a_continuous_testbed_needs_a_gaussian_reference():
    with pytest.raises(ValueError, match=r"needs epsilon = 0 .* got 0.1"):
        HackingCell("advrl/HalfCheetahUpright-v0", "action_kl", "kl", 1.0, epsilon=0.1)
    HackingCell("advrl/Tomato-v0", "action_kl", "kl", 1.0, epsilon=0.1)  # categorical: fine


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(testbed="advrl/Nope-v0"), "unknown testbed 'advrl/Nope-v0'"),
        (dict(method="dpo"), "unknown method 'dpo'"),
        (dict(coef=-1.0), "coef must be a finite number >= 0, got -1.0"),
        (dict(epsilon=1.5), r"epsilon must be in \[0, 1\], got 1.5"),
        (dict(reward_clip=0.0), "reward_clip must be a number > 0, got 0.0"),
        (dict(method="ppo", reward_clip=10.0), "reward_clip applies to ORPO only, not 'ppo'"),
    ],
)
def test_bad_cells_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HackingCell(**{"testbed": "advrl/Tomato-v0", "method": "orpo", **kwargs})


def test_suite_matches_references_on_continuous_testbeds():
    cells = hacking_suite(
        ["advrl/Tomato-v0", "advrl/ReacherX-v0"], [1.0], [("sqrt_chi2", 0.2)], [0, 1],
        orpo_epsilons=[0.1, 0.0],
    )  # fmt: skip
    assert len(cells) == 2 * 2 * (1 + 1 + 2)
    kl = {c.testbed: c.epsilon for c in cells if c.method == "action_kl"}
    assert kl == {"advrl/Tomato-v0": 0.1, "advrl/ReacherX-v0": 0.0}
    assert {c.epsilon for c in cells if c.method == "orpo"} == {0.1, 0.0}
    assert len({c.key for c in cells}) == len(cells)
    with pytest.raises(ValueError, match="unknown testbed 'Hopper-v5'"):
        hacking_suite(["Hopper-v5"], [], [], [0])


def test_report_groups_by_testbed_method_and_reference(tmp_path):
    store = ResultsStore(tmp_path)
    cells = hacking_suite(["advrl/Tomato-v0", "advrl/ReacherX-v0"], [], [("chi2", 0.1)], [0, 1])
    for i, cell in enumerate(cells):
        curve = [[100.0 * k, float(i), 2.0 * i] for k in range(20)]
        store.put(cell, {"final_true": float(i), "final_proxy": 2.0 * i, "reference_true": 1.0,
                         "mean_return": float(i), "curve": curve})  # fmt: skip
    paths = write_hacking_report(tmp_path)
    table = [line for line in paths["markdown"].read_text().splitlines() if line.startswith("|")]
    assert len(table) == 2 + 2 * 2  # header + (ppo, orpo) x 2 testbeds
    # Tomato ppo ran as cells 0 (seed 0) and 2 (seed 1): true 1.00 +- 1.00 over the seeds.
    tomato_ppo = next(r for r in table if "Tomato-v0 | ppo" in r)
    assert "| 2 | 1.00 ± 1.00 | 2.00 ± 2.00 | 1.00 |" in tomato_ppo
    rows = np.genfromtxt(paths["csv"], delimiter=",", names=True, dtype=None, encoding=None)
    assert len(rows) == len(cells)
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"


def test_every_testbed_has_a_shipped_reference():
    import advrl.zoo

    for testbed, spec in TESTBEDS.items():
        policy = advrl.zoo.load(spec.reference)
        assert policy.env_id == testbed
        assert policy.card["env_kwargs"] == {"reward": "true"}


@pytest.mark.parametrize("method, epsilon", [("orpo", 0.1), ("action_kl", 0.0)])
def test_a_mujoco_cell_trains_and_measures_its_reference(method, epsilon):
    cell = HackingCell("advrl/ReacherX-v0", method, "sqrt_chi2" if method == "orpo" else "kl",
                       0.2, steps=1024, n_envs=2, epsilon=epsilon)  # fmt: skip
    result = cell.run()
    assert np.isfinite([result["final_true"], result["final_proxy"]]).all()
    # The shipped reference reaches (about -5 greedy); a random arm scores about -43.
    assert result["reference_true"] > -15
    assert len(result["curve"]) == 20


def test_reward_clip_is_part_of_the_key_only_when_set():
    plain = HackingCell("advrl/Tomato-v0", "orpo", "chi2", 0.1)
    assert "reward_clip" not in plain.to_dict()  # runs stored before the field still resume
    clipped = HackingCell("advrl/Tomato-v0", "orpo", "chi2", 0.1, reward_clip=10.0)
    assert clipped.to_dict()["reward_clip"] == 10.0 and clipped.key != plain.key


def test_cells_whose_conventions_changed_never_share_a_key_or_a_row_with_old_runs(tmp_path):
    ppo = HackingCell("advrl/Tomato-v0", "ppo")
    kl = HackingCell("advrl/Tomato-v0", "action_kl", "kl", 1.0)
    clipped = HackingCell("advrl/Tomato-v0", "orpo", "chi2", 0.1, reward_clip=10.0)
    unclipped = HackingCell("advrl/Tomato-v0", "orpo", "chi2", 0.1)
    # Unchanged training (PPO, unclipped ORPO): the key of runs stored before the field.
    assert "convention" not in ppo.to_dict() and "convention" not in unclipped.to_dict()
    assert kl.to_dict()["convention"] == clipped.to_dict()["convention"] == "reference"
    with pytest.raises(ValueError, match="convention must be 'reference'"):
        HackingCell("advrl/Tomato-v0", "action_kl", "kl", 1.0, convention="old")
    # An action-KL record stored by advrl 0.1 (no convention) is its own row.
    store = ResultsStore(tmp_path)
    result = {"final_true": 1.0, "final_proxy": 2.0, "reference_true": 1.0, "mean_return": 1.0,
              "curve": [[0.0, 1.0, 2.0]]}  # fmt: skip
    store.put(kl, result)
    old = {k: v for k, v in kl.to_dict().items() if k != "convention"}
    (tmp_path / "cells" / "old.json").write_text(
        json.dumps({"cell": old, "result": {**result, "final_true": 9.0}})
    )
    table = write_hacking_report(tmp_path)["markdown"].read_text()
    assert "| reference | 1 | 1.00 ± 0.00" in table
    assert "| advrl-0.1 | 1 | 9.00 ± 0.00" in table


def test_a_run_that_finishes_no_episode_says_so(monkeypatch):
    import advrl.bench.hacking as hacking

    tiny = dict(n_steps=32, batch_size=32, n_epochs=1, policy_kwargs=dict(net_arch=[8]))
    monkeypatch.setattr(hacking, "_ppo_settings", lambda testbed: tiny)
    cell = HackingCell("advrl/HalfCheetahUpright-v0", "ppo", steps=32, n_envs=1)
    with pytest.raises(ValueError, match=r"32 training steps .* finished no episode .* 1000 steps"):
        cell.run()
