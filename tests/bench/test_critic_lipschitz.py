"""The critic-Lipschitz bench cell, suite and report."""

from __future__ import annotations

import math

import pytest

from advrl.bench import run_suite
from advrl.bench.critic_lipschitz import CriticLipschitzCell, critic_lipschitz_suite
from advrl.bench.critic_lipschitz_report import critic_lipschitz_rows, write_critic_lipschitz_report


def test_suite_runs_resumes_and_reports(tmp_path):
    cells = critic_lipschitz_suite(["CartPole-v1"], ["vanilla", "adversarial"], [0], steps=512,
                                   eps=[0.1], episodes=2, value_states=16)  # fmt: skip
    summary = run_suite(cells, tmp_path, progress=False)
    assert len(summary.computed) == 2
    assert run_suite(cells, tmp_path, progress=False).skipped == [c.key for c in cells]
    rows = critic_lipschitz_rows(tmp_path)
    assert [(r["variant"], r["eps"]) for r in rows] == [("vanilla", 0.1), ("adversarial", 0.1)]
    vanilla, adversarial = rows
    assert vanilla["fps_ratio"] == 1.0 and adversarial["fps_ratio"] > 0
    assert math.isclose(vanilla["return_drop"],
                        vanilla["clean_return"] - vanilla["attacked_return"])  # fmt: skip
    assert vanilla["lipschitz_max"] > 0
    paths = write_critic_lipschitz_report(tmp_path)
    assert all(p.exists() for p in paths.values())
    table = paths["markdown"].read_text()
    assert "| CartPole-v1 | adversarial | 0.1 | 1 |" in table


def test_vanilla_keys_ignore_the_regularisers_strengths():
    a = CriticLipschitzCell("CartPole-v1", "vanilla", adv_eps=0.05)
    b = CriticLipschitzCell("CartPole-v1", "vanilla", adv_eps=0.2)
    assert a.key == b.key
    assert (CriticLipschitzCell("CartPole-v1", "adversarial", adv_eps=0.05).key
            != CriticLipschitzCell("CartPole-v1", "adversarial", adv_eps=0.2).key)  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(env="Nope-v0"), "unknown env"),
        (dict(variant="dropout"), "unknown variant"),
        (dict(eps=(0.1, -0.1)), "eps"),
        (dict(adv_eps=-1.0), "adv_eps"),
    ],  # fmt: skip
)
def test_bad_cells_fail_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CriticLipschitzCell(**{"env": "CartPole-v1", "variant": "vanilla", **kwargs})
