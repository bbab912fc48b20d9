"""`advrl bench adversarial-policies`: cells (settings, keys, errors), a tiny end-to-end run
with stand-in victims, resume, and the report."""

from types import SimpleNamespace

import pytest
from stable_baselines3 import PPO

import advrl.zoo
from advrl.bench import adversarial_policies as ap
from advrl.bench.adversarial_policies import AdversarialPolicyCell, adversarial_policies_suite
from advrl.bench.adversarial_policies_report import pooled, write_adversarial_policies_report
from advrl.bench.runner import run_suite
from advrl.envs.competitive import player_view

TINY = dict(n_steps=16, batch_size=32, n_epochs=1, learning_rate=3e-4,
            policy_kwargs=dict(net_arch=[8]))  # fmt: skip


@pytest.fixture
def stand_in_zoo(monkeypatch):
    """Tiny untrained victims under the shipped names, and tiny PPO settings."""
    models = {}

    def load(name, device="cpu"):
        if name not in models:
            agent = "blocker" if name.endswith("blocker") else "runner"
            env = player_view("sumo") if "sumo" in name else player_view("you_shall_not_pass",
                                                                           agent)  # fmt: skip
            models[name] = PPO("MlpPolicy", env, seed=len(models), **TINY)
        return SimpleNamespace(model=models[name])

    monkeypatch.setattr(advrl.zoo, "load", load)
    monkeypatch.setattr(advrl.zoo, "names", lambda: [n for v in ap.VICTIMS.values() for n in v])
    monkeypatch.setattr(ap, "PPO_ADVERSARY", TINY)
    return models


def test_a_tiny_suite_runs_resumes_and_reports(stand_in_zoo, tmp_path):
    cells = adversarial_policies_suite(["sumo"], [0.5, 1.0], [0], steps=32, episodes=4,
                                       defenses=["none", "adversarial_training"])  # fmt: skip
    cells = [  # small enough for a test: two envs, one defense round
        AdversarialPolicyCell(
            c.game,
            c.budget,
            c.seed,
            c.steps,
            c.episodes,
            c.mode,
            c.defense,
            defense_rounds=1,
            attacker_ratio=2,
            n_envs=2,
        )
        for c in cells
    ]
    assert [(c.defense, c.budget) for c in cells] == [("none", 0.5), ("none", 1.0),
                                                      ("adversarial_training", 1.0)]  # fmt: skip
    first = run_suite(cells, tmp_path, workers=1, progress=False)
    assert len(first.computed) == 3
    assert not run_suite(cells, tmp_path, workers=1, progress=False).computed  # resumed
    from advrl.bench.store import ResultsStore

    results = {r["cell"]["defense"] + str(r["cell"]["budget"]): r["result"]
               for r in ResultsStore(tmp_path).records("adversarial_policy")}  # fmt: skip
    for res in results.values():
        for match in ("attacked", "normal", "adversary_vs_reference", "normal_vs_reference"):
            m = res[match]
            assert m["wins"] + m["losses"] + m["draws"] == m["episodes"] == 4
            assert 0 <= m["win_ci"][0] <= m["win_rate"] <= m["win_ci"][1] <= 1
    assert "defense_seconds" in results["adversarial_training1.0"]
    paths = write_adversarial_policies_report(tmp_path)
    md = paths["markdown"].read_text()
    assert md.count("| sumo | ppo-sumo |") == 3 and "adversarial_training" in md
    assert paths["plot"].stat().st_size > 0 and len(paths["csv"].read_text().splitlines()) == 4


def test_pooled_win_rates_use_the_wilson_interval_of_all_games():
    p = pooled([{"wins": 10, "episodes": 10, "win_rate": 1.0},
                {"wins": 0, "episodes": 10, "win_rate": 0.0}])  # fmt: skip
    assert p["rate"] == 0.5 and p["per_seed"] == [1.0, 0.0]
    assert p["low"] == pytest.approx(0.2993, abs=1e-3) and p["high"] == pytest.approx(
        0.7007, abs=1e-3
    )


def test_cell_settings_keys_and_clear_errors(stand_in_zoo):
    plain = AdversarialPolicyCell("sumo", 1.0)
    assert plain.names == ("ppo-sumo", "ppo-sumo-s1")
    assert "defense_rounds" not in plain.to_dict()  # not a setting of an undefended run
    assert AdversarialPolicyCell("sumo", 1.0, defense_rounds=3).key == plain.key
    defended = AdversarialPolicyCell("sumo", 1.0, defense="adversarial_training")
    assert defended.key != plain.key and defended.to_dict()["attacker_ratio"] == 4
    with pytest.raises(ValueError, match="unknown game 'chess'"):
        AdversarialPolicyCell("chess")
    with pytest.raises(ValueError, match=r"budget must be a number in \[0, 1\]"):
        AdversarialPolicyCell("sumo", -0.5)
    with pytest.raises(ValueError, match="unknown defense 'prayer'"):
        AdversarialPolicyCell("sumo", defense="prayer")
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        AdversarialPolicyCell("sumo", steps=0)


def test_a_suite_without_shipped_victims_is_refused(monkeypatch):
    monkeypatch.setattr(advrl.zoo, "names", lambda: [])
    with pytest.raises(ValueError, match=r"victims \['ppo-sumo', 'ppo-sumo-s1'\] are not in"):
        adversarial_policies_suite(["sumo"], [1.0], [0])
