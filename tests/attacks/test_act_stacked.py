"""Stacked MLPs, the closed-form PPO gradient and the action sampler, against autograd and
torch.multinomial."""

import pytest
import torch as th

from advrl.attacks.act.stacked import (
    Batch,
    StackedMLP,
    clip_grad_norm_rows,
    mlp_num_params,
    output_grads,
    ppo_loss,
    sample_actions,
)

SIZES = [6, 8, 8, 3]  # three actions: the maths is not special-cased for two


def batch(P=4, B=32, seed=0):
    g = th.Generator().manual_seed(seed)
    return Batch(
        th.randn(P, B, SIZES[0], generator=g),
        th.randint(0, SIZES[-1], (P, B), generator=g),
        -2 * th.rand(P, B, generator=g),  # ratios from ~0.3 to ~7: both sides of the clip
        th.randn(P, B, generator=g),
        th.randn(P, B, generator=g),
    )


@pytest.mark.parametrize("ent_coef", [0.0, 0.05])
def test_closed_form_gradient_equals_autograd(ent_coef):
    coefs = {"clip_range": 0.2, "ent_coef": ent_coef, "vf_coef": 0.5}
    gen = th.Generator().manual_seed(1)
    n_pi, n_vf = mlp_num_params(SIZES), mlp_num_params([*SIZES[:-1], 1])
    theta = th.randn(4, n_pi + n_vf, generator=gen).requires_grad_()
    mb = batch()
    pi = StackedMLP.from_flat(theta[:, :n_pi], SIZES)
    vf = StackedMLP.from_flat(theta[:, n_pi:], [*SIZES[:-1], 1])
    ppo_loss(pi(mb.obs), vf(mb.obs)[..., 0], mb, **coefs).sum().backward()

    grad = th.zeros_like(theta)
    g_pi = StackedMLP.from_flat(grad[:, :n_pi], SIZES)
    g_vf = StackedMLP.from_flat(grad[:, n_pi:], [*SIZES[:-1], 1])
    with th.no_grad():
        logits, pi_inputs = pi.forward(mb.obs, features_first=True)
        values, vf_inputs = vf.forward(mb.obs, features_first=True)
        g_logits, g_values = output_grads(logits, values[:, 0], mb, **coefs)
        pi.backward(pi_inputs, g_logits, g_pi, features_first=True)
        vf.backward(vf_inputs, g_values[:, None], g_vf, features_first=True)
    th.testing.assert_close(grad, theta.grad, rtol=1e-5, atol=1e-7)
    ratio = th.exp(th.log_softmax(logits, 1).gather(1, mb.actions[:, None])[:, 0] - mb.old_logp)
    assert ((ratio < 0.8) | (ratio > 1.2)).any() and ((ratio > 0.8) & (ratio < 1.2)).any()


def test_features_first_forward_is_the_transposed_output():
    gen = th.Generator().manual_seed(2)
    net = StackedMLP.from_flat(th.randn(3, mlp_num_params(SIZES), generator=gen), SIZES)
    x = th.randn(3, 5, SIZES[0], generator=gen)
    th.testing.assert_close(net.forward(x, features_first=True)[0], net(x).transpose(1, 2))


def test_clipping_is_per_member():
    grad = th.tensor([[3.0, 4.0], [0.3, 0.4]])
    clip_grad_norm_rows(grad, 0.5)
    th.testing.assert_close(grad, th.tensor([[0.3, 0.4], [0.3, 0.4]]), atol=1e-6, rtol=0)


def test_sampler_is_multinomial_and_layout_free():
    probs = th.softmax(3 * th.randn(64, 5, 3, generator=th.Generator().manual_seed(3)), -1)
    expected = th.multinomial(probs.reshape(-1, 3), 1, generator=th.Generator().manual_seed(4))
    got = sample_actions(probs, th.Generator().manual_seed(4))
    assert th.equal(got, expected.reshape(64, 5))
    actions_first = probs.transpose(1, 2).contiguous()  # (64, 3, 5), as the fused rollout
    assert th.equal(sample_actions(actions_first, th.Generator().manual_seed(4), dim=1), got)


def test_sampler_frequencies_match_the_probabilities():
    p = th.tensor([0.1, 0.6, 0.3])
    draws = sample_actions(p.expand(40_000, 3), th.Generator().manual_seed(0))
    freq = th.bincount(draws, minlength=3) / draws.numel()
    assert (freq - p).abs().max() < 4 * (0.25 / draws.numel()) ** 0.5
