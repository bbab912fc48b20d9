"""ATLA-PPO: the victim learns under the live adversary, the adversary against the live victim."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch as th

from advrl.agents.atla import ATLA
from advrl.agents.sappo import SAPPO
from advrl.zoo import load_file
from advrl.zoo.train import main as train_main

TINY = dict(n_steps=64, batch_size=64, n_epochs=1, policy_kwargs=dict(net_arch=[8]))


def test_both_sides_train_and_the_victim_sees_the_perturbation():
    atla = ATLA("Pendulum-v1", eps=0.2, n_envs=2, victim_kwargs=TINY, adversary_kwargs=TINY)
    before = {k: v.clone() for k, v in atla.adversary.policy.state_dict().items()}
    atla.learn(iterations=2)
    assert atla.victim.num_timesteps == atla.adversary.num_timesteps == 256
    assert any(not th.equal(before[k], v) for k, v in atla.adversary.policy.state_dict().items())
    # The adversary attacks the victim through its current normaliser statistics.
    seen = atla.adversary_env.get_attr("policy")[0].normalizer.mean.numpy()
    np.testing.assert_allclose(seen, atla.vec_normalize.obs_rms.mean, rtol=1e-6)
    # The victim's env perturbs every observation by the adversary, inside the ball.
    venv = atla.victim.get_env()
    venv.reset()
    _, _, _, infos = venv.step(np.zeros((2, 1), np.float32))
    assert all(0 < info["attack_norm"] <= 0.2 * (1 + 1e-6) for info in infos)


def test_the_sa_variant_regularises_the_victim_over_the_whole_run():
    atla = ATLA("Pendulum-v1", eps=0.2, sa_kappa=0.1, total_steps=256, n_envs=1,
                victim_kwargs=TINY, adversary_kwargs=TINY)  # fmt: skip
    assert isinstance(atla.victim, SAPPO)
    atla.learn(iterations=2)
    assert atla.victim.current_sa_eps() == pytest.approx(0.2 * (128 / 256) / 0.75)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="eps must be a finite number > 0, got 0"):
        ATLA("Pendulum-v1", eps=0)
    with pytest.raises(ValueError, match="sa_kappa > 0 needs total_steps"):
        ATLA("Pendulum-v1", eps=0.1, sa_kappa=0.1)


def test_the_zoo_command_ships_an_atla_victim(tmp_path):
    train_main(["--env", "Hopper-v5", "--name", "atla-tiny", "--steps", "1024", "--n-envs", "2",
                "--algo", "atla", "--out", str(tmp_path)])  # fmt: skip
    card = json.loads((tmp_path / "atla-tiny.json").read_text())
    assert card["trainer"] == "ATLA" and card["robust_training"]["eps"] == 0.075
    assert card["robust_training"]["adversary_steps"] == 1024
    assert load_file(tmp_path / "atla-tiny.safetensors").env_id == "Hopper-v5"
