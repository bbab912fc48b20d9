"""The reward-robustness bench cell: the PGD attack on a reward model's observations, a tiny
cell through the runner (resume) and the report rebuilt from the store."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from advrl.agents.reward_models import RewardNet
from advrl.bench import run_suite
from advrl.bench.reward_robustness import (
    RewardRobustnessCell,
    pgd_reward_attack,
    reward_robustness_suite,
    spearman,
    write_reward_robustness_report,
)


class Recorder(th.nn.Module):
    """A reward net that remembers the observations of its last call."""

    def __init__(self, net):
        super().__init__()
        self.inner, self.seen = net, None

    def forward(self, obs, actions, next_obs):
        self.seen = (obs.detach(), actions.detach(), next_obs.detach())
        return self.inner(obs, actions, next_obs)


def test_attack_stays_in_the_ball_and_beats_random_noise():
    th.manual_seed(0)
    space = gym.spaces.Box(-5, 5, (6,))
    net = RewardNet(space, gym.spaces.Box(-1, 1, (2,)), hidden=(32,))
    obs, acts, nxt = th.randn(256, 6), th.rand(256, 2), th.randn(256, 6)
    model = Recorder(net)
    with th.no_grad():
        clean = net(obs, acts, nxt).numpy()
    errors = []
    for eps in (0.05, 0.2):
        attacked = pgd_reward_attack(model, (obs, acts, nxt), eps, "untargeted", 5,
                                     generator=th.Generator().manual_seed(0))  # fmt: skip
        seen_obs, seen_acts, seen_next = model.seen
        assert (seen_obs - obs).abs().max() <= eps + 1e-6
        assert (seen_next - nxt).abs().max() <= eps + 1e-6
        assert th.equal(seen_acts, acts)  # actions are not the attacked observation
        np.testing.assert_allclose(attacked, net(seen_obs, acts, seen_next).detach().numpy())
        errors.append(np.abs(attacked - clean).mean())
        with th.no_grad():  # the corner of the ball in a random direction
            noise = [eps * th.randn(x.shape).sign() for x in (obs, nxt)]
            random = net(obs + noise[0], acts, nxt + noise[1]).numpy()
        assert errors[-1] > 1.5 * np.abs(random - clean).mean()
    assert errors[1] > errors[0]
    signs = th.tensor([1.0, -1.0]).repeat(128)
    targeted = pgd_reward_attack(net, (obs, acts, nxt), 0.2, signs, 5)
    assert np.all((targeted - clean) * signs.numpy() > 0)  # pushed the asked way, everywhere
    with pytest.raises(ValueError, match="objective must be 'untargeted'"):
        pgd_reward_attack(net, (obs, acts, nxt), 0.1, "up")
    with pytest.raises(ValueError, match="finite eps > 0"):
        pgd_reward_attack(net, (obs, acts, nxt), 0.0, "untargeted")


def test_spearman():
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([10.0, 30.0, 20.0])) == pytest.approx(0.5)
    assert np.isnan(spearman(np.ones(3), np.arange(3.0)))


def test_bad_cells_are_clear_errors():
    with pytest.raises(ValueError, match="unknown task 'Nope-v0'"):
        RewardRobustnessCell("Nope-v0")
    with pytest.raises(ValueError, match="including 'none'"):
        RewardRobustnessCell(regularizers=("gp", "sn"))
    with pytest.raises(ValueError, match="regularizers must be distinct names"):
        RewardRobustnessCell(regularizers=("none", "dropout"))
    with pytest.raises(ValueError, match=r"eps must be finite numbers > 0, got \[0.1, -1\]"):
        RewardRobustnessCell(eps=(0.1, -1))
    with pytest.raises(ValueError, match="unknown gradient-penalty site 'wgan'"):
        RewardRobustnessCell(gp_site="wgan")
    with pytest.raises(ValueError, match="weight must be a finite number >= 0"):
        reward_robustness_suite(["HalfCheetah-v5"], [0], gp_weight=-1.0)


def test_tiny_suite_runs_resumes_and_reports(tmp_path):
    tiny = dict(n_segments=20, segment_length=5, n_pairs=30, rm_epochs=2, episodes=4,
                horizon=15, pgd_steps=2, eps=(0.05, 0.5))  # fmt: skip
    cells = [RewardRobustnessCell(seed=s, **tiny) for s in (0, 1)]
    cells.append(RewardRobustnessCell(seed=0, gp_target=0.1, **tiny))
    assert len({c.key for c in cells}) == 3
    summary = run_suite(cells, tmp_path, workers=1, progress=False)
    assert len(summary.computed) == 3
    paths = write_reward_robustness_report(tmp_path)
    md = paths["markdown"].read_text()
    # none and sn of the k=0.1 cell are the k=0.05 cell's models: counted once
    for model, seeds in (("none", 2), ("gp (k=0.05, data)", 2), ("gp (k=0.1, data)", 1),
                         ("sn", 2)):  # fmt: skip
        assert f"| HalfCheetah-v5 | {model} | {seeds} |" in md
        assert f"| HalfCheetah-v5 | {model} | 0.5 | {seeds} |" in md
    none_row = next(line for line in md.splitlines() if line.startswith("| HalfCheetah-v5 | none"))
    assert none_row.endswith(" | 1.00 |")  # throughput ratio to itself
    csv = paths["csv"].read_text().splitlines()
    assert len(csv) == 1 + 7 * 3  # (model, seed) pairs x (clean + 2 eps)
    assert paths["plot"].is_file()
    again = run_suite(cells, tmp_path, workers=1, progress=False)
    assert again.computed == [] and len(again.skipped) == 3
