"""The discriminator's loss, reward and files, against hand computations."""

from __future__ import annotations

import math

import pytest
import torch as th
from torch import nn

from advrl.agents.ail import (
    AILConfig,
    Discriminator,
    discriminator_loss,
    gail_reward,
    lipschitz_estimate,
    load_discriminator,
    save_discriminator,
)
from advrl.agents.lipschitz import gradient_penalty, is_spectral_normalized


class Linear(nn.Module):
    """D(o, a) = w . [o, a] + b: scores and gradients known by hand."""

    def __init__(self, w: list[float], b: float = 0.0) -> None:
        super().__init__()
        self.w, self.b = nn.Parameter(th.tensor(w)), nn.Parameter(th.tensor(b))

    def forward(self, obs, act):
        return th.cat([obs, act], dim=1) @ self.w + self.b


HARD = AILConfig(real_labels=(1.0, 1.0), grad_pen=False, ent_reg_scale=0.0)


def test_reward_is_the_references_minimax_gail_reward():
    logits = th.tensor([-3.0, 0.0, 2.0])
    expected = [-math.log(1 - 1 / (1 + math.exp(-x)) + 1e-8) for x in (-3.0, 0.0, 2.0)]
    assert gail_reward(logits).tolist() == pytest.approx(expected, rel=1e-6)
    assert (gail_reward(logits) >= 0).all()  # a survival bonus: never negative


def test_bce_with_hard_labels_matches_hand_values():
    disc = Linear([1.0, 0.0], b=0.0)  # the score is the obs
    expert = (th.tensor([[2.0]]), th.tensor([[0.0]]))
    policy = (th.tensor([[-1.0]]), th.tensor([[0.0]]))
    loss, m = discriminator_loss(disc, expert, policy, HARD)
    # -log sigmoid(2) - log(1 - sigmoid(-1))
    hand = math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-1.0))
    assert loss.item() == pytest.approx(hand, rel=1e-6)
    assert (m["expert_acc"], m["policy_acc"], m["grad_pen"]) == (1.0, 1.0, 0.0)


def test_entropy_bonus_is_subtracted_with_its_weight():
    disc = Linear([1.0, 0.0])
    batch = (th.tensor([[0.0], [1.0]]), th.zeros(2, 1))
    base, _ = discriminator_loss(disc, batch, batch, HARD)
    cfg = AILConfig(real_labels=(1.0, 1.0), grad_pen=False, ent_reg_scale=0.5)
    loss, m = discriminator_loss(disc, batch, batch, cfg)
    p = 1 / (1 + math.exp(-1.0))
    entropy = (2 * math.log(2) + 2 * -(p * math.log(p) + (1 - p) * math.log(1 - p))) / 4
    assert m["entropy"] == pytest.approx(entropy, rel=1e-6)
    assert loss.item() == pytest.approx(base.item() - 0.5 * entropy, rel=1e-6)


def test_real_labels_are_smoothed_in_the_configured_range():
    disc = Linear([0.0, 0.0])  # score 0: the expert BCE is log 2 whatever the label
    obs = th.zeros(4096, 1)
    for low, high in ((0.7, 1.2), (1.0, 1.0)):
        cfg = AILConfig(real_labels=(low, high), grad_pen=False, ent_reg_scale=0.0)
        disc.b.data.fill_(1.0)  # score 1: BCE(1, y) = log(1 + e) - y, linear in the label
        loss, _ = discriminator_loss(
            disc,
            (obs, obs),
            (obs[:1].expand(4096, 1), obs),
            cfg,
            generator=th.Generator().manual_seed(0),
        )
        policy_part = math.log(1 + math.e)
        mean_label = (low + high) / 2
        assert loss.item() == pytest.approx(
            policy_part + math.log(1 + math.e) - mean_label, abs=0.01
        )


def test_gradient_penalty_adds_exactly_scale_times_the_penalty():
    th.manual_seed(0)
    disc = Discriminator(3, 2, hidden=(8,), spectral_norm=False)
    disc.head.weight.data.mul_(1000)  # gradient norms above 1: the one-sided penalty bites
    expert = (th.randn(16, 3), th.randn(16, 2))
    policy = (th.randn(16, 3), th.randn(16, 2))
    off, _ = discriminator_loss(
        disc, expert, policy, AILConfig(grad_pen=False), generator=th.Generator().manual_seed(1)
    )
    on, m = discriminator_loss(
        disc,
        expert,
        policy,
        AILConfig(grad_pen_scale=10.0),
        generator=th.Generator().manual_seed(1),
    )
    g = th.Generator().manual_seed(1)
    th.empty(16).uniform_(0.7, 1.2, generator=g)  # the labels come first from the generator
    pen = gradient_penalty(disc, expert, policy, generator=g)
    assert pen.item() > 0
    assert on.item() - off.item() == pytest.approx(10.0 * pen.item(), rel=1e-5)
    assert m["grad_pen"] == pytest.approx(10.0 * pen.item(), rel=1e-5)


def test_a_penalty_on_a_net_without_a_gradient_path_is_a_clear_error():
    class Detached(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(th.ones(3))

        def forward(self, obs, act):
            return th.cat([obs, act], 1).detach() @ self.w

    batch = (th.zeros(4, 2), th.zeros(4, 1))
    with pytest.raises(ValueError, match="ignores every input part"):
        discriminator_loss(Detached(), batch, batch, AILConfig())


def test_spectral_norm_is_on_by_default_on_the_hidden_layers_only():
    disc = Discriminator(3, 2)
    assert is_spectral_normalized(disc.trunk) and not is_spectral_normalized(disc.head)
    assert not is_spectral_normalized(Discriminator(3, 2, spectral_norm=False).trunk)


def test_inputs_are_clamped_so_far_inputs_have_no_gradient():
    disc = Discriminator(1, 1, hidden=(4,), input_clip=5.0)
    assert lipschitz_estimate(disc, (th.full((3, 1), 9.0), th.full((3, 1), -9.0))) == 0.0
    assert lipschitz_estimate(disc, (th.zeros(3, 1), th.zeros(3, 1))) > 0.0


def test_lipschitz_estimate_of_a_linear_discriminator_is_its_weight_norm():
    disc = Linear([3.0, 4.0])
    assert lipschitz_estimate(disc, (th.randn(5, 1), th.randn(5, 1))) == pytest.approx(5.0)


def test_files_round_trip_weights_only(tmp_path):
    disc = Discriminator(3, 2, hidden=(8, 8))
    disc(th.randn(4, 3), th.randn(4, 2))  # a power iteration: u, v are part of the state
    path = tmp_path / "d.safetensors"
    save_discriminator(disc, path)
    back = load_discriminator(path)
    x = (th.randn(6, 3), th.randn(6, 2))
    disc.eval(), back.eval()
    assert th.equal(disc(*x), back(*x)) and back.config == disc.config
    (tmp_path / "other.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(ValueError, match="not written by save_discriminator"):
        load_discriminator(tmp_path / "other.safetensors")
    with pytest.raises(FileNotFoundError):
        load_discriminator(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("kwargs, message", [
    ({"grad_pen_site": "wgan"}, "grad_pen_site"),
    ({"grad_pen_scale": -1.0}, "grad_pen_scale"),
    ({"real_labels": (1.2, 0.7)}, "real_labels"),
    ({"d_steps": 0}, "d_steps"),
    ({"hidden": ()}, "hidden"),
    ({"lr": 0.0}, "lr"),
])  # fmt: skip
def test_bad_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AILConfig(**kwargs)
