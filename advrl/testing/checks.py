"""Shipped conformance checks: run them on your own attacks and wrappers."""

from __future__ import annotations

import numpy as np
import torch as th

from advrl.types import ObservationAttack, TorchPolicy


def check_attack(
    attack: ObservationAttack,
    policy: TorchPolicy,
    obs: th.Tensor,
    *,
    seed: int = 0,
    atol: float = 1e-5,
) -> th.Tensor:
    """Check the ObservationAttack contract on one batch; returns the attacked batch.

    Checks: same shape and dtype, finite, inside the eps-ball per sample, the clean batch is
    not modified, and the same generator seed gives the same result.

    Raises:
        AssertionError: naming the broken property.
    """
    from advrl.attacks.balls import sample_norm

    clean = obs.clone()
    adv = attack(obs, policy, th.Generator().manual_seed(seed))
    assert th.equal(obs, clean), "the attack modified its input in place"
    assert adv.shape == obs.shape, f"shape changed: {tuple(obs.shape)} -> {tuple(adv.shape)}"
    assert adv.dtype == obs.dtype, f"dtype changed: {obs.dtype} -> {adv.dtype}"
    assert bool(th.isfinite(adv).all()), "attacked observations are not finite"
    size = sample_norm((adv - obs).double(), attack.norm)
    limit = attack.eps * (1 + atol) + atol
    assert bool((size <= limit).all()), (
        f"perturbation of {attack!r} leaves the {attack.norm} ball: "
        f"max {float(size.max())} > {attack.eps}"
    )
    again = attack(obs, policy, th.Generator().manual_seed(seed))
    assert th.equal(adv, again), f"{attack!r} is not deterministic under a fixed generator seed"
    return adv


def check_attack_wrapper(env, n_steps: int = 20, seed: int = 0, atol: float = 1e-4) -> None:
    """Check an attack wrapper's info keys and budget over a short random rollout.

    Raises:
        AssertionError: a missing ``obs_clean`` / ``attack_norm`` or a norm above eps.
    """
    from gymnasium.utils.env_checker import check_env

    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    eps = env.get_wrapper_attr("attack").eps
    for _ in range(n_steps):
        for key in ("obs_clean", "attack_norm"):
            assert key in info, f"info lacks {key!r}"
        assert info["attack_norm"] <= eps * (1 + atol) + atol, (
            f"attack_norm {info['attack_norm']} exceeds eps {eps}"
        )
        assert np.shape(info["obs_clean"]) == np.shape(obs)
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, info = env.reset()
