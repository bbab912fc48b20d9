"""The ACT loop, its message sources, the gymnasium path and the cheap-talk bench suite."""

import dataclasses
import math

import pytest
import torch as th

from advrl.attacks.act.gym_path import train_act_gym
from advrl.attacks.act.population import PPOConfig
from advrl.attacks.act.trainer import (
    ACTConfig,
    adversary_messages,
    control_rollout,
    fitness,
    random_messages,
    train_act,
    train_victims,
)
from advrl.bench import run_suite
from advrl.bench.cheap_talk import CheapTalkCell, cheap_talk_suite, write_cheap_talk_report

TINY = PPOConfig(n_envs=2, n_steps=16, n_epochs=1, batch_size=32, hidden=(8,))


def tiny(mode="anti", **kw):
    return ACTConfig(mode=mode, popsize=4, generations=1, n_updates=1, eval_envs=2,
                     control_steps=20, ppo=TINY, hidden=(4,), **kw)  # fmt: skip


def test_messages_are_bounded_and_shared_theta_broadcasts():
    cfg = tiny()
    theta = 5 * th.randn(cfg.num_params, generator=th.Generator().manual_seed(0))
    obs = th.randn(3, 7, 4)
    shared = adversary_messages(theta, cfg.adversary_sizes, cfg.scale)(obs)
    stacked = adversary_messages(theta[None].repeat(3, 1), cfg.adversary_sizes, cfg.scale)(obs)
    assert shared.shape == (3, 7, 2) and th.allclose(shared, stacked)
    assert shared.abs().max() <= cfg.scale
    noise = random_messages(2, 1.0, seed=0)(obs)
    assert noise.shape == (3, 7, 2) and noise.abs().max() <= 1.0


@pytest.mark.parametrize("mode", ["anti", "pro", "control"])
def test_fitness_is_signed_by_mode(mode):
    cfg = tiny(mode)
    cands = 0.1 * th.randn(4, cfg.num_params, generator=th.Generator().manual_seed(1))
    out = fitness(cands, cfg, seed=0)
    assert out["fitness"].shape == (4,) and out["curves"].shape == (4, 1)
    if mode == "anti":
        assert th.equal(out["fitness"], -out["final_return"])
    elif mode == "pro":  # learning speed: the mean training return
        assert th.equal(out["fitness"], out["curves"].mean(1))
        cfg.fitness_on = "final"
        assert th.equal(fitness(cands, cfg, seed=0)["fitness"], out["final_return"])
    else:
        assert th.equal(out["fitness"], out["control_reward"])
        assert ((out["success"] >= 0) & (out["success"] <= 1)).all()
        assert ((out["control_reward"] >= 0) & (out["control_reward"] <= 1)).all()


def test_control_reward_by_hand_for_a_cart_that_stays_put():
    # 1 step: the cart barely moves from ~0, so the reward is exp(-goal^2) for each goal.
    cfg = tiny("control", success_radius=0.3)
    cfg.control_steps, cfg.eval_envs = 1, 4
    ppo, _ = train_victims(lambda o: o.new_zeros(*o.shape[:-1], 2), 1, cfg, seed=0)
    out = control_rollout(ppo, lambda o: o.new_zeros(*o.shape[:-1], 2), cfg, seed=3)
    goal = (
        th.rand(1, 4, 1, generator=th.Generator().manual_seed(3 + 7)) * 2 - 1
    )  # -.08 -.03 -.38 .23
    expected = th.exp(-(goal.reshape(-1) ** 2)).mean()
    assert out["control_reward"].item() == pytest.approx(expected.item(), abs=0.05)
    assert out["success"].item() == 0.75  # |x| <= 0.05 after one step: only -0.38 misses


def test_train_act_is_deterministic_and_records_history():
    a, b = train_act(tiny("pro", seed=3)), train_act(tiny("pro", seed=3))
    assert th.equal(a.theta, b.theta) and len(a.history) == 1
    assert a.adversary.numel() == ACTConfig(hidden=(4,)).num_params


def test_progress_bars_count_generations_and_are_silent_by_default(capsys):
    train_act(tiny("anti"))
    assert capsys.readouterr().err == ""
    train_act(dataclasses.replace(tiny("anti"), generations=2), progress_bar=True)
    err = capsys.readouterr().err
    assert "ACT" in err and "2/2" in err
    train_act_gym("Pendulum-v1", popsize=2, generations=1, total_timesteps=32, n_steps=16,
                  batch_size=16, n_epochs=1, hidden=(4,), progress_bar=True)  # fmt: skip
    assert "1/1" in capsys.readouterr().err


def test_bad_inputs_are_clear_errors():
    for popsize in (1, 0, 3):
        with pytest.raises(
            ValueError, match=f"population must be an even integer >= 2, got {popsize}"
        ):
            ACTConfig(popsize=popsize)
        with pytest.raises(ValueError, match="population must be an even integer >= 2"):
            CheapTalkCell("act-anti", popsize=popsize)
    with pytest.raises(ValueError, match="message dims must be an integer > 0, got 0"):
        ACTConfig(dims=0)
    with pytest.raises(ValueError, match="fitness_on must be 'final' or 'training', got 'x'"):
        ACTConfig(fitness_on="x")
    with pytest.raises(ValueError, match="mode must be one of .* got 'evil'"):
        ACTConfig(mode="evil")
    with pytest.raises(ValueError, match="unknown method 'act-evil'"):
        cheap_talk_suite(["act-evil"], [0])
    with pytest.raises(ValueError, match="mode must be one of .* got 'control'"):
        train_act_gym("CartPole-v1", mode="control")
    with pytest.raises(ValueError, match="population must be an even integer >= 2, got 1"):
        train_act_gym("CartPole-v1", popsize=1)


def test_the_ppo_update_is_a_cell_setting_so_stores_never_merge_the_two():
    fused, autograd = CheapTalkCell("act-anti"), CheapTalkCell("act-anti", ppo_impl="autograd")
    assert fused.key != autograd.key  # a resumed run recomputes instead of mixing numerics
    assert fused.config().ppo.impl == "fused" and autograd.config().ppo.impl == "autograd"
    allowed = r"unknown ppo_impl 'jit'; allowed: \['fused', 'autograd'\]"
    with pytest.raises(ValueError, match=allowed):
        CheapTalkCell("act-anti", ppo_impl="jit")


def test_gymnasium_path_runs_sb3_victims():
    src = train_act_gym("Pendulum-v1", popsize=2, generations=1, total_timesteps=64, n_steps=16,
                        batch_size=32, n_epochs=1, hidden=(4,))  # fmt: skip
    assert src.obs_dim == 3 and src(th.zeros(1, 3).numpy()).shape == (1, 2)


def test_bench_suite_runs_reports_and_resumes(tmp_path):
    cells = [CheapTalkCell(m, popsize=2, generations=1, n_updates=1, victims=2)
             for m in ("none", "random", "act-control")]  # fmt: skip
    first = run_suite(cells, tmp_path, workers=1, progress=False)
    assert len(first.computed) == 3
    again = run_suite(cells, tmp_path, workers=1, progress=False)
    assert again.computed == [] and len(again.skipped) == 3
    paths = write_cheap_talk_report(tmp_path)
    csv = paths["csv"].read_text().splitlines()
    assert csv[0].startswith("method,seed") and len(csv) == 4
    assert "act-control" in paths["markdown"].read_text() and paths["plot"].stat().st_size > 0
    assert math.isfinite(float(csv[3].split(",")[5]))


def test_cli_bench_cheap_talk(tmp_path, capsys):
    from advrl.cli import main

    argv = ["bench", "cheap-talk", "--methods", "none", "--seeds", "0", "--victims", "2",
            "--updates", "1", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    assert "| none | 1 |" in capsys.readouterr().out
    assert main([*argv[:-2], "--popsize", "3", "--out", str(tmp_path)]) == 2
    assert "population must be an even integer >= 2, got 3" in capsys.readouterr().err
    assert main(["bench", "cheap-talk", "--methods", "loud", "--out", str(tmp_path)]) == 2
    assert "unknown method 'loud'" in capsys.readouterr().err
