"""Every shipped adversary loads for the shipped victim it names, with a card saying how."""

from __future__ import annotations

import json

import pytest
import torch as th

import advrl.zoo
from advrl.attacks.learned import load_learned_attack, shipped_adversaries
from advrl.attacks.learned.artifacts import ADVERSARY_DIR
from advrl.attacks.learned.registry import LEARNED_ATTACKS
from advrl.bench.cells import STANDARD_EPS

SHIPPED = shipped_adversaries()


def _victim(name: str) -> str:
    kind = name.split("-", 1)[0]
    return name.removeprefix(f"{kind}-")


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_adversary_attacks_its_victim_inside_the_ball(name):
    card = json.loads((ADVERSARY_DIR / f"{name}.json").read_text())
    victim = _victim(name)
    assert card["victim"] == victim and victim in advrl.zoo.names()
    assert card["command"].startswith("python -m advrl.attacks.learned.train")
    assert card["steps"] > 0
    env_id = advrl.zoo.load(victim).env_id
    assert card["eps"] == STANDARD_EPS.get(env_id, STANDARD_EPS["HalfCheetah-v5"])
    policy = advrl.zoo.load(victim).torch_policy()
    obs = th.randn(4, *policy.observation_space.shape, generator=th.Generator().manual_seed(0))
    for attack, entry in LEARNED_ATTACKS.items():
        if entry.adversary != card["kind"]:
            continue
        adv = load_learned_attack(attack, victim=victim, eps=card["eps"])
        out = adv(obs, policy, th.Generator().manual_seed(0))
        size = (out - obs).abs().amax(dim=1)
        assert bool((size <= card["eps"] * (1 + 1e-5)).all()) and bool((size > 0).any())


def test_the_zoo_ships_the_vanilla_victims_adversaries():
    for victim in ("ppo-hopper", "ppo-walker2d", "ppo-halfcheetah"):
        assert f"optimal-{victim}" in SHIPPED and f"rs-{victim}" in SHIPPED
