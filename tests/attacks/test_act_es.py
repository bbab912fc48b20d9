"""ACT's evolution-strategy maths against hand computations and a quadratic fitness."""

import pytest
import torch as th

from advrl.attacks.act.es import (
    Adam,
    OpenAIES,
    antithetic_noise,
    centered_ranks,
    es_gradient,
    shape_fitness,
    z_scores,
)


def test_centered_ranks_and_z_scores_by_hand():
    assert centered_ranks(th.tensor([10.0, -3.0, 7.0, 0.0])).tolist() == pytest.approx(
        [0.5, -0.5, 1 / 6, -1 / 6]
    )
    z = z_scores(th.tensor([1.0, 2.0, 3.0]))
    assert z.tolist() == pytest.approx([-1.0, 0.0, 1.0])
    assert z_scores(th.ones(4)).tolist() == [0.0] * 4


def test_es_gradient_formula_by_hand():
    noise = th.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [0.0, -2.0]])
    shaped = th.tensor([1.0, 0.5, -1.0, 0.0])
    # sum_i f_i eps_i = [1 + 1, 1] ; / (n * sigma) = / (4 * 0.5)
    assert es_gradient(noise, shaped, 0.5).tolist() == pytest.approx([1.0, 0.5])


def test_antithetic_pairs_cancel():
    noise = antithetic_noise(6, 3, th.Generator().manual_seed(0))
    assert th.equal(noise[:3], -noise[3:])


def test_gradient_estimate_points_uphill_on_a_quadratic():
    target = th.tensor([1.0, -2.0, 0.5, 3.0])
    theta = th.zeros(4)
    true_grad = 2 * (target - theta)  # gradient of F = -||theta - target||^2
    noise = antithetic_noise(8192, 4, th.Generator().manual_seed(1))
    candidates = theta + 0.1 * noise
    fitness = -((candidates - target) ** 2).sum(1)
    for shaping in ("centered_rank", "z_score", "none"):
        grad = es_gradient(noise, shape_fitness(fitness, shaping), 0.1)
        cosine = th.nn.functional.cosine_similarity(grad, true_grad, dim=0)
        assert cosine > 0.95, shaping
    # unshaped with antithetic noise: an unbiased estimate of the true gradient itself
    grad = es_gradient(noise, fitness, 0.1)
    assert (grad - true_grad).norm() < 0.15 * true_grad.norm()


def test_adam_first_step_is_lr_times_sign():
    adam = Adam(3, lr=0.1)
    theta = adam.step(th.zeros(3), th.tensor([2.0, -0.5, 0.0]))
    assert theta.tolist() == pytest.approx([0.1, -0.1, 0.0], abs=1e-6)


def test_openai_es_climbs_a_quadratic_and_is_deterministic():
    def run(seed):
        es = OpenAIES(th.zeros(3), popsize=16, sigma=0.05, lr=0.05, seed=seed)
        start = None
        for _ in range(100):
            x = es.ask()
            f = -((x - th.tensor([0.5, -0.5, 1.0])) ** 2).sum(1)
            start = f.mean() if start is None else start
            es.tell(f)
        return es.theta, start

    theta, _ = run(0)
    assert (theta - th.tensor([0.5, -0.5, 1.0])).abs().max() < 0.1
    assert th.equal(run(0)[0], theta)


@pytest.mark.parametrize("popsize", [0, 1, 3, -2, 2.0])
def test_bad_population_is_a_clear_error(popsize):
    with pytest.raises(ValueError, match="population must be an even integer >= 2"):
        OpenAIES(th.zeros(2), popsize=popsize)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="sigma must be a finite number > 0, got 0"):
        OpenAIES(th.zeros(2), popsize=4, sigma=0)
    with pytest.raises(ValueError, match="unknown fitness shaping 'rank'"):
        OpenAIES(th.zeros(2), popsize=4, shaping="rank")
    es = OpenAIES(th.zeros(2), popsize=4)
    with pytest.raises(RuntimeError, match="ask"):
        es.tell(th.zeros(4))
    es.ask()
    with pytest.raises(ValueError, match="expected 4 fitness values, got 3"):
        es.tell(th.zeros(3))
