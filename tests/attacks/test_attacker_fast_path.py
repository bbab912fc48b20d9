"""PerturbObservation's per-step path: pinned values, and the same stream as the batch path.

The single-env wrapper attacks one observation per step without building a batch; these
tests pin what the batch-only engine produced under a seed (values recorded before the
per-step path existed), so a speed-up that changes a single number fails here.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from advrl.attacks import PGD, GaussianNoise, PerturbObservation, UniformNoise
from advrl.attacks.apply import ObservationAttacker
from advrl.testing import LinearPolicy

EPISODE = 200
STEPS = 300
STEPS_PINNED = (0, 1, 199, 200, 255, 256, 257, 300)
"""Reset, first step, an episode end and the next reset, and both sides of a noise block."""
GRADIENT_STEPS = 8
COORD = 3


class Ramp(gym.Env):
    """17 coordinates that move by a fixed amount per step; episodes of EPISODE steps."""

    def __init__(self, dtype=np.float64, bound=np.inf):
        self.observation_space = gym.spaces.Box(-bound, bound, (17,), dtype)
        self.action_space = gym.spaces.Discrete(2)
        self._t = 0

    def _obs(self):
        base = np.linspace(-1.0, 1.0, 17) + 0.01 * self._t
        return base.astype(self.observation_space.dtype)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        self._t += 1
        return self._obs(), 0.0, False, self._t >= EPISODE, {}


CONFIGS = {
    "uniform-linf-float64": (lambda: UniformNoise(0.15), {}),
    "gaussian-l2-float32": (lambda: GaussianNoise(0.1, norm="l2"), {"dtype": np.float32}),
    "pass-through": (lambda: UniformNoise(0.0), {}),
    "uniform-bounded": (lambda: UniformNoise(0.2), {"bound": 1.2}),
    "pgd": (lambda: PGD(0.05, steps=2), {}),
}


def run(name, policy):
    """The returned observations and ``info["attack_norm"]`` of STEPS steps after a seeded
    reset (auto-reset at episode ends)."""
    attack, env_kwargs = CONFIGS[name]
    env = PerturbObservation(Ramp(**env_kwargs), attack(), policy, seed=0)
    obs, info = env.reset(seed=1)
    seen, norms = [obs], [info["attack_norm"]]
    steps = GRADIENT_STEPS if name == "pgd" else STEPS  # gradient attacks are slow: a few
    for _ in range(steps):
        obs, _, terminated, truncated, info = env.step(0)
        if terminated or truncated:
            seen.append(obs)
            norms.append(info["attack_norm"])
            obs, info = env.reset()
        seen.append(obs)
        norms.append(info["attack_norm"])
    return seen, norms


def pinned_steps(name):
    return (0, 1, GRADIENT_STEPS) if name == "pgd" else STEPS_PINNED


# Recorded with the batch-only engine (commit ec01377): (obs[t][COORD], attack_norm[t]) at
# pinned_steps(name). Floats print exactly (repr round-trips), so the test asserts equality.
PINNED = {
    "uniform-linf-float64": (
        [
            -0.5793374395943471,
            -0.5776483612436857,
            1.4081076153699748,
            1.4024453668994357,
            -0.06556708535919725,
            -0.00880793418242111,
            -0.10776795034386527,
            0.4200507400124371,
        ],
        [
            0.1397320154576431,
            0.14629730027916685,
            0.14086650345406598,
            0.12158910848882591,
            0.14547354500759904,
            0.12795459993278294,
            0.14465373632147985,
            0.14527882194876138,
        ],
    ),
    "gaussian-l2-float32": (
        [
            -0.6285448670387268,
            -0.631020188331604,
            1.3500351905822754,
            1.3635308742523193,
            -0.09742944687604904,
            -0.090611033141613,
            -0.0603012852370739,
            0.34319376945495605,
        ],
        [
            0.09999999999900773,
            0.09999999999908522,
            0.08616082691745108,
            0.0819229474485989,
            0.09999999999909143,
            0.09999999999909523,
            0.07724040218992914,
            0.0815816630689333,
        ],
    ),
    "pass-through": (
        [
            -0.625,
            -0.615,
            1.365,
            1.375,
            -0.08499999999999996,
            -0.07499999999999996,
            -0.06499999999999995,
            0.365,
        ],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ),
    "uniform-bounded": (
        [
            -0.5641165861257962,
            -0.5651978149915808,
            1.2,
            1.2,
            -0.059089447145596344,
            0.01325608775677184,
            -0.12202393379182036,
            0.43840098668324945,
        ],
        [
            0.1863093376159668,
            0.19506308436393738,
            2.955254077911377,
            2.999694347381592,
            0.19396495819091797,
            0.17060613632202148,
            0.19287163019180298,
            0.19370514154434204,
        ],
    ),
    "pgd": (
        [-0.5986995697021484, -0.6413004302978516, -0.5186995100975037],
        [0.05000019073486328, 0.05000019073486328, 0.05000019073486328],
    ),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_seeded_runs_reproduce_the_values_recorded_before_the_per_step_path(
    name, halfcheetah_victim
):
    seen, norms = run(name, halfcheetah_victim.torch_policy())
    values, sizes = PINNED[name]
    assert [float(seen[t][COORD]) for t in pinned_steps(name)] == values
    assert [norms[t] for t in pinned_steps(name)] == sizes
    assert all(type(n) is float for n in norms)
    assert all(o.dtype == seen[0].dtype and o.shape == (17,) for o in seen)


class StillWithBadValue(Ramp):
    """A Ramp that stands still (so perturbations compare exactly across steps), except that
    its observation at step ``at`` has ``value`` in one coordinate."""

    def __init__(self, at, value, **kwargs):
        super().__init__(**kwargs)
        self.at, self.value = at, value

    def _obs(self):
        obs = np.linspace(-1.0, 1.0, 17).astype(self.observation_space.dtype)
        if self._t == self.at:
            obs[5] = self.value
        return obs


@pytest.mark.parametrize("name", ["uniform-linf-float64", "pass-through", "uniform-bounded"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_observation_raises_and_draws_no_noise(name, value, halfcheetah_victim):
    attack, env_kwargs = CONFIGS[name]
    policy = halfcheetah_victim.torch_policy()
    bad = PerturbObservation(StillWithBadValue(3, value, **env_kwargs), attack(), policy)
    twin = PerturbObservation(StillWithBadValue(-1, value, **env_kwargs), attack(), policy)
    bad.reset(seed=4)
    twin.reset(seed=4)

    def delta(env):
        obs, *_, info = env.step(0)
        return obs - info["obs_clean"]

    deltas = [delta(bad) for _ in range(2)]
    with pytest.raises(ValueError, match="observation contains NaN or infinite values"):
        bad.step(0)
    deltas += [delta(bad) for _ in range(3)]
    # The failed step took no noise: the bad env's steps 1, 2, 4, 5, 6 see the twin's 1..5.
    np.testing.assert_array_equal(np.stack(deltas), np.stack([delta(twin) for _ in range(5)]))


@pytest.mark.parametrize("name", ["uniform-linf-float64", "pass-through", "pgd"])
def test_a_non_finite_first_observation_raises_at_reset(name, halfcheetah_victim):
    attack, env_kwargs = CONFIGS[name]
    env = PerturbObservation(
        StillWithBadValue(0, np.nan, **env_kwargs), attack(), halfcheetah_victim.torch_policy()
    )
    with pytest.raises(ValueError, match="observation contains NaN or infinite values"):
        env.reset(seed=0)


def test_the_clean_observation_in_info_is_the_one_the_env_returned(halfcheetah_victim):
    policy = halfcheetah_victim.torch_policy()
    for name in ("uniform-linf-float64", "pass-through"):
        attack, env_kwargs = CONFIGS[name]
        inner = Ramp(**env_kwargs)
        env = PerturbObservation(inner, attack(), policy, seed=0)
        env.reset(seed=0)
        obs, *_, info = env.step(0)
        np.testing.assert_array_equal(info["obs_clean"], inner._obs())
        assert info["obs_clean"].dtype == obs.dtype


def twin_attackers(attack, space, policy, attack_space="raw"):
    return [ObservationAttacker(attack, policy, space, attack_space, seed=3) for _ in range(2)]


@pytest.mark.parametrize(
    ("attack", "shape", "space_dtype", "obs_dtype", "bound"),
    [
        (UniformNoise(0.1), (5,), np.float64, np.float64, np.inf),
        (GaussianNoise(0.2, norm="l2"), (2, 3), np.float32, np.float32, np.inf),
        (UniformNoise(0.1), (5,), np.float64, np.float32, np.inf),  # cast back to float32
        (UniformNoise(0.0), (2, 3), np.float32, np.float32, np.inf),
        (UniformNoise(1e37), (4,), np.float32, np.float32, np.inf),  # overflows near the edge
        (UniformNoise(0.1), (5,), np.float64, np.float64, 2.0),  # clipped: the batch path
        (PGD(0.1, steps=1), (5,), np.float32, np.float32, np.inf),
    ],
)
@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_single_is_row_zero_of_the_batch_call_with_the_same_stream(
    attack, shape, space_dtype, obs_dtype, bound
):
    space = gym.spaces.Box(-bound, bound, shape, space_dtype)
    policy = LinearPolicy(th.ones(1, int(np.prod(shape))), obs_shape=shape)
    single, batched = twin_attackers(attack, space, policy)
    rng = np.random.default_rng(0)
    overflows = attack.eps > 1e30
    errors = []
    for t in range(600):  # over two noise blocks
        obs = rng.normal(size=shape).astype(obs_dtype)
        if t in (5, 300):
            obs.flat[1] = np.nan
        if t in (7, 256) and overflows:
            obs = np.full(shape, np.finfo(obs_dtype).max, obs_dtype)
        try:
            want = batched(obs[None])
        except ValueError as error:  # the same error, then the same stream
            errors.append(str(error))
            with pytest.raises(ValueError) as raised:
                single.single(obs)
            assert str(raised.value) == str(error)
            continue
        got, norm = single.single(obs)
        np.testing.assert_array_equal(got, want.obs[0])
        assert got.dtype == want.obs.dtype and got.shape == shape
        assert type(norm) is float and norm == float(want.norms[0])
    assert sum(e.startswith("observation contains NaN") for e in errors) == 2
    assert sum(e.startswith("the perturbed observation") for e in errors) == 2 * overflows
