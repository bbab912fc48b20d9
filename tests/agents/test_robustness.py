"""Robustness evaluation: no adversary, worst-case adversary, the mass x friction suite."""

import csv

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from advrl.agents.robustness import evaluate_protagonist, train_worst_case_adversary
from advrl.cli import main
from advrl.envs.agent_view import Opponent

ENV = "InvertedPendulum-v5"


@pytest.fixture(scope="module")
def protagonist(tmp_path_factory):
    model = PPO("MlpPolicy", make_vec_env(ENV, 2, seed=0), n_steps=64, batch_size=64, seed=0,
                policy_kwargs=dict(net_arch=[8]))  # fmt: skip
    model.learn(256)
    path = tmp_path_factory.mktemp("models") / "pendulum.zip"
    model.save(path)
    return model, path


def test_dynamics_and_adversary_change_the_evaluation(protagonist):
    model, _ = protagonist
    nominal = evaluate_protagonist(model, ENV, n_episodes=4, seed=1)
    again = evaluate_protagonist(model, ENV, n_episodes=4, seed=1)
    np.testing.assert_array_equal(nominal, again)
    heavy = evaluate_protagonist(model, ENV, mass_scale=30.0, bodies=["pole"], n_episodes=4, seed=1)
    assert heavy.mean() != nominal.mean()
    pushed = evaluate_protagonist(model, ENV, adversary="random", n_episodes=4, seed=1,
                                  force_kwargs=dict(max_force=50.0))  # fmt: skip
    assert pushed.shape == (4,)


def test_worst_case_adversary_trains_against_the_frozen_protagonist(protagonist):
    model, _ = protagonist
    before = [p.detach().clone() for p in model.policy.parameters()]
    adversary = train_worst_case_adversary(
        model, ENV, 128, n_envs=2, algo_kwargs=dict(n_steps=64, batch_size=64)
    )
    assert adversary.num_timesteps == 128
    assert all((a == b).all() for a, b in zip(before, model.policy.parameters(), strict=True))
    returns = evaluate_protagonist(model, ENV, adversary=Opponent(adversary, deterministic=True),
                                   n_episodes=2)  # fmt: skip
    assert returns.shape == (2,)


def test_robustness_suite_writes_grid_and_heatmap(protagonist, tmp_path):
    _, path = protagonist
    argv = [
        "bench", "robustness", "--models", f"tiny=PPO:{path}", "--env", ENV,
        "--mass", "0.5,2", "--friction", "1,3", "--bodies", "pole", "--episodes", "2",
        "--workers", "1", "--out", str(tmp_path),
    ]  # fmt: skip
    assert main(argv) == 0
    rows = list(csv.DictReader((tmp_path / "robustness.csv").open()))
    assert [(float(r["mass_scale"]), float(r["friction_scale"])) for r in rows] == [
        (0.5, 1.0), (0.5, 3.0), (2.0, 1.0), (2.0, 3.0)
    ]  # fmt: skip
    assert (tmp_path / "robustness.png").read_bytes()[:4] == b"\x89PNG"
    assert main(argv) == 0  # resumes: nothing recomputed


@pytest.mark.parametrize(
    ("models", "message"),
    [(["broken"], "LABEL=ALGO:PATH"), (["x=PPO:/no/such.zip"], "no file at")],
)
def test_robustness_bad_input(models, message, tmp_path, capsys):
    assert main(["bench", "robustness", "--models", *models, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
