"""Stacked (population) MLPs, SB3's PPO loss and its gradient derived by hand.

The fused update of :class:`advrl.attacks.act.population.PopulationPPO` computes what
autograd computes for the reference loss (:func:`ppo_loss`), without building a graph:
one forward pass that keeps the tanh activations, the loss gradient at the network outputs
in closed form (:func:`output_grads`), then ``bmm`` back through the layers straight into a
flat gradient buffer. Members are independent: every operation is per member (a batch entry
of a ``bmm`` or a row of a reduction), so a block of members gives each member what it
would get alone. Blocks of a few members keep the working set in cache, which is where the
speed comes from (see BENCHMARKS.md, issue 15).

Shapes: ``C`` members in a block, ``B`` samples each, ``A`` actions. A member's flat vector
is the actor's layers then the critic's, each layer's weight ``(out, in)`` row-major then its
bias (the :class:`StackedMLP` layout).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch as th


def mlp_num_params(sizes: Sequence[int]) -> int:
    """Parameter count of an MLP with layer ``sizes`` (weights and biases)."""
    return sum(o * i + o for i, o in zip(sizes[:-1], sizes[1:], strict=True))


class StackedMLP:
    """``P`` independent tanh MLPs with stacked weights ``(P, out, in)`` and biases ``(P, out)``.

    The flat layout per member is ``LearnedMessage``'s (``parameters_to_vector``: each layer's
    weight row-major, then its bias), so an ES vector found here drives
    :class:`advrl.envs.cheap_talk.LearnedMessage` identically.

    Example:
        >>> net = StackedMLP.from_flat(th.zeros(3, mlp_num_params([4, 8, 2])), [4, 8, 2])
        >>> net(th.ones(3, 5, 4)).shape
        torch.Size([3, 5, 2])
    """

    def __init__(self, weights: list[th.Tensor], biases: list[th.Tensor]) -> None:
        self.weights, self.biases = weights, biases

    @classmethod
    def from_flat(cls, flat: th.Tensor, sizes: Sequence[int]) -> StackedMLP:
        """Views into ``flat`` of shape ``(P, mlp_num_params(sizes))`` (writes go through)."""
        if flat.ndim != 2 or flat.shape[1] != mlp_num_params(sizes):
            raise ValueError(
                f"expected flat parameters of shape (P, {mlp_num_params(sizes)}), "
                f"got {tuple(flat.shape)}"
            )
        weights, biases, offset = [], [], 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            weights.append(flat[:, offset : offset + n_in * n_out].unflatten(1, (n_out, n_in)))
            offset += n_in * n_out
            biases.append(flat[:, offset : offset + n_out])
            offset += n_out
        return cls(weights, biases)

    @classmethod
    def orthogonal(
        cls, n: int, sizes: Sequence[int], out_gain: float, generator: th.Generator, device="cpu"
    ) -> StackedMLP:
        """SB3's init for each member: orthogonal weights (gain sqrt(2), ``out_gain`` on the
        last layer), zero biases."""
        weights, biases = [], []
        for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            gain = out_gain if k == len(sizes) - 2 else math.sqrt(2)
            w = th.empty(n, n_out, n_in)
            for p in range(n):  # QR of a seeded normal matrix, as th.nn.init.orthogonal_
                a = th.randn(max(n_out, n_in), min(n_out, n_in), generator=generator)
                q, r = th.linalg.qr(a)
                q = q * th.sign(th.diagonal(r))
                w[p] = gain * (q if n_out >= n_in else q.T)[:n_out, :n_in]
            weights.append(w.to(device))
            biases.append(th.zeros(n, n_out, device=device))
        return cls(weights, biases)

    def flat(self) -> th.Tensor:
        """The ``(P, n)`` flat parameters (the inverse of :meth:`from_flat`)."""
        pairs = zip(self.weights, self.biases, strict=True)
        return th.cat([t.flatten(1) for pair in pairs for t in pair], 1)

    def parameters(self) -> list[th.Tensor]:
        return [*self.weights, *self.biases]

    def __call__(self, x: th.Tensor) -> th.Tensor:
        """``x`` shape ``(P, B, in)`` -> ``(P, B, out)``."""
        return self.forward(x)[0]

    def forward(
        self, x: th.Tensor, features_first: bool = False
    ) -> tuple[th.Tensor, list[th.Tensor]]:
        """The output and the inputs of every layer (``x``, then each tanh activation), which
        :meth:`backward` needs. ``features_first`` returns the output as ``(P, out, B)``:
        with few outputs (actions, a value), reductions over them are far faster in that
        layout than over a short last dimension."""
        inputs = [x]
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if k == last and features_first:
                return th.baddbmm(b[:, :, None], w, x.transpose(1, 2)), inputs
            x = th.baddbmm(b[:, None, :], x, w.transpose(1, 2))
            if k < last:
                x = th.tanh(x) if x.requires_grad else x.tanh_()  # in place: one buffer less
                inputs.append(x)
        return x, inputs

    def backward(
        self, inputs: list[th.Tensor], grad_out: th.Tensor, grad: StackedMLP,
        features_first: bool = False,
    ) -> None:  # fmt: skip
        """Write the parameter gradient of ``sum(grad_out * output)`` into ``grad``'s tensors
        (same shapes as this net's; e.g. views into a flat buffer); ``grad_out`` in the
        layout :meth:`forward` returned. No input gradient."""
        g = grad_out.transpose(1, 2) if features_first else grad_out  # (P, B, out)
        for k in reversed(range(len(self.weights))):
            # bmm into a strided view would loop member by member: compute, then copy
            grad.weights[k].copy_(th.bmm(g.transpose(1, 2), inputs[k]))
            th.sum(g, 1, out=grad.biases[k])
            if k > 0:  # through tanh: autograd's own kernel, g * (1 - h^2)
                g = th.ops.aten.tanh_backward(th.bmm(g, self.weights[k]), inputs[k])


def sample_actions(probs: th.Tensor, generator: th.Generator, dim: int = -1) -> th.Tensor:
    """One categorical draw per row of ``probs`` (categories along ``dim``).

    ``argmax(p / q)`` with ``q ~ Exp(1)`` (the exponential race, a form of the Gumbel-max
    trick) is an exact sampler, and it is how ``torch.multinomial(p, 1)`` draws: with
    ``q`` drawn in categories-last order the actions equal ``multinomial``'s, whatever the
    layout, and it skips multinomial's input checks, which cost more than the draw.
    ``max(dim).indices`` (the first maximum, as ``argmax``) is many times faster than
    ``argmax`` over a dimension that is not the last.
    """
    shape = probs.movedim(dim, -1).shape
    q = th.empty(shape, device=probs.device).exponential_(generator=generator)
    return (probs / q.movedim(-1, dim)).max(dim).indices


class Batch(NamedTuple):
    """A PPO minibatch per member: ``obs (P, B, obs_dim)``; ``actions`` (long), ``old_logp``,
    ``advantages``, ``returns``: ``(P, B)``."""

    obs: th.Tensor
    actions: th.Tensor
    old_logp: th.Tensor
    advantages: th.Tensor
    returns: th.Tensor


def normalized(advantages: th.Tensor) -> th.Tensor:
    """Per-member minibatch normalisation, as SB3 (unbiased std, +1e-8)."""
    mean, std = advantages.mean(1, keepdim=True), advantages.std(1, keepdim=True)
    return (advantages - mean) / (std + 1e-8)


def ppo_loss(
    logits: th.Tensor, values: th.Tensor, batch: Batch, clip_range: float, ent_coef: float,
    vf_coef: float,
) -> th.Tensor:  # fmt: skip
    """SB3 PPO's loss per member, shape ``(P,)``: clipped surrogate + ``vf_coef`` * value MSE
    - ``ent_coef`` * entropy (``logits (P, B, A)``, ``values (P, B)``)."""
    adv = normalized(batch.advantages)
    log_probs = th.log_softmax(logits, -1)
    logp = log_probs.gather(-1, batch.actions[..., None])[..., 0]
    ratio = th.exp(logp - batch.old_logp)
    clipped = th.clamp(ratio, 1 - clip_range, 1 + clip_range)
    policy_loss = -th.min(ratio * adv, clipped * adv).mean(1)
    value_loss = (batch.returns - values).pow(2).mean(1)
    entropy = -(log_probs.exp() * log_probs).sum(-1).mean(1)
    return policy_loss + vf_coef * value_loss - ent_coef * entropy


def output_grads(
    logits: th.Tensor, values: th.Tensor, batch: Batch, clip_range: float, ent_coef: float,
    vf_coef: float,
) -> tuple[th.Tensor, th.Tensor]:  # fmt: skip
    """Gradients of :func:`ppo_loss` (each member's own) with respect to ``logits``, here
    features first ``(P, A, B)``, and ``values (P, B)``, in closed form.

    Surrogate: ``-min(r * A, clip(r) * A)`` has gradient ``-r * A`` in ``log pi(a)`` where the
    unclipped branch is the minimum (where the two are equal, r is inside the clip range and
    autograd's halves add up to the same) and 0 where the clipped, constant one is. Then
    ``d log pi(a) / d logits = onehot(a) - pi``; the entropy's gradient is
    ``-pi * (log pi + H)``; the value MSE's ``2 (v - R)``.
    """
    n = logits.shape[2]
    adv = normalized(batch.advantages)
    log_probs = th.log_softmax(logits, 1)
    probs = log_probs.exp()
    action = batch.actions[:, None, :]
    ratio = th.exp(log_probs.gather(1, action)[:, 0] - batch.old_logp)
    clipped = th.clamp(ratio, 1 - clip_range, 1 + clip_range)
    surrogate = ratio * adv
    g_logp = surrogate.mul_((surrogate <= clipped * adv) * (-1 / n))[:, None, :]
    g_logits = probs * -g_logp
    g_logits.scatter_add_(1, action, g_logp)
    if ent_coef:
        entropy = -(probs * log_probs).sum(1, keepdim=True)
        g_logits += (ent_coef / n) * probs * (log_probs + entropy)
    return g_logits, (values - batch.returns) * (2 * vf_coef / n)


def clip_grad_norm_rows(grad: th.Tensor, max_norm: float) -> None:
    """Per-member global-norm clipping of ``grad (C, n)`` in place (SB3 clips each model's
    whole gradient at ``max_grad_norm``)."""
    norm = th.linalg.vector_norm(grad, dim=1)
    grad.mul_((max_norm / (norm + 1e-6)).clamp_(max=1.0)[:, None])
