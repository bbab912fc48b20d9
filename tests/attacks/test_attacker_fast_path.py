"""PerturbObservation's per-step path: pinned values, and the same stream as the batch path.

The single-env wrapper attacks one observation per step without building a batch; these
tests pin what the batch-only engine produced under a seed (values recorded before the
per-step path existed), so a speed-up that changes a single number fails here.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from advrl.attacks import (
    PGD,
    GaussianNoise,
    PerturbObservation,
    UniformNoise,
    VecPerturbObservation,
)
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

    def __init__(self, dtype=np.float64, bound=np.inf, length=EPISODE):
        self.observation_space = gym.spaces.Box(-bound, bound, (17,), dtype)
        self.action_space = gym.spaces.Discrete(2)
        self._t, self.length = 0, length

    def _obs(self):
        base = np.linspace(-1.0, 1.0, 17) + 0.01 * self._t
        return base.astype(self.observation_space.dtype)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        self._t += 1
        return self._obs(), 0.0, False, self._t >= self.length, {}


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


VEC_LENGTHS = (5, 7, 11)
"""Episodes end alone and together, so terminal batches of 1 and 2 take rows mid-block."""
VEC_STEPS = 300
VEC_PINNED = (0, 5, 35, 77, 150, 300)


def run_vec(name, policy):
    """``(obs[t][:, COORD], attack_norm[t])`` over VEC_STEPS steps of a VecPerturbObservation
    on three Ramps, and the terminal observations' ``(coordinate, norm)`` in order."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    attack, env_kwargs = CONFIGS[name]
    fns = [lambda n=n: Ramp(length=n, **env_kwargs) for n in VEC_LENGTHS]
    venv = VecPerturbObservation(DummyVecEnv(fns), attack(), policy, seed=0)
    venv.seed(2)
    seen, norms, terminal = [venv.reset()[:, COORD].tolist()], [venv.last_norms.tolist()], []
    for _ in range(VEC_STEPS):
        obs, _, dones, infos = venv.step(np.zeros(3, dtype=int))
        seen.append(obs[:, COORD].tolist())
        norms.append([info["attack_norm"] for info in infos])
        terminal += [
            (float(info["terminal_observation"][COORD]), info["terminal_attack_norm"])
            for info, done in zip(infos, dones, strict=True)
            if done
        ]
    return seen, norms, terminal


# Recorded with the engine before the per-step path (commit ec01377), as PINNED.
VEC_PINNED_VALUES = {
    "uniform-linf-float64": (
        [
            [-0.6794123731241147, -0.6726723171422965, -0.5651993790548036],
            [-0.6643284788871527, -0.631543493562371, -0.5771508879444622],
            [-0.671941615837011, -0.6365957836485958, -0.6432954657207921],
            [-0.6111628499239977, -0.6011248929928201, -0.6552826168575461],
            [-0.6167128922377048, -0.6387909024391749, -0.4797245830750639],
            [-0.6969189357610215, -0.5706055206608377, -0.5253697022285961],
        ],
        [
            [0.14799346391067494, 0.13610467099210968, 0.12821860677179575],
            [0.143141450571001, 0.13168502102025748, 0.14446492606008174],
            [0.14699537623321474, 0.12918512945435126, 0.13552165471280034],
            [0.13363292736766433, 0.14730492188156621, 0.143417588258979],
            [0.13576885121495447, 0.14209897855725964, 0.14310680004588214],
            [0.1367257622728057, 0.14070462259273342, 0.14055069049303967],
        ],
        [
            (-0.6426510079744822, 0.14859532164999573),
            (-0.6367902002792822, 0.1287705919587663),
            (-0.6017101955859739, 0.1404959252631234),
            (-0.43821972392704145, 0.1468699265995028),
            (-0.5734749042398287, 0.14772313936204323),
            (-0.6435934316981832, 0.1304036153566759),
            (-0.5825480592599493, 0.146235664867687),
            (-0.5842931246911427, 0.12263273205533781),
            (-0.5167429784407759, 0.13376887928352166),
            (-0.5714773239750737, 0.14369065046738722),
            (-0.5926670304960892, 0.14713749606322316),
            (-0.5680699419976007, 0.14876434868755956),
            (-0.4443560485610638, 0.13595574059679644),
            (-0.6490003470996862, 0.14207346816986474),
            (-0.5818734577792771, 0.1473818910434941),
        ],
    ),
    "gaussian-l2-float32": (
        [
            [-0.6323279738426208, -0.6180033087730408, -0.6097607612609863],
            [-0.6314418315887451, -0.5708981156349182, -0.5634951591491699],
            [-0.6135353446006775, -0.6180122494697571, -0.5870298147201538],
            [-0.5988092422485352, -0.6347299218177795, -0.601621687412262],
            [-0.6282281875610352, -0.595608651638031, -0.5565454959869385],
            [-0.6213144063949585, -0.5620673894882202, -0.6024867296218872],
        ],
        [
            [0.08205689990501824, 0.0908312551620453, 0.09216085515079409],
            [0.09915199364050135, 0.09999999999904735, 0.0999999999991108],
            [0.09999999999907988, 0.09999999999903814, 0.09999999999910086],
            [0.07875041702878485, 0.09999999999909823, 0.09999999999914501],
            [0.09999999999904192, 0.09999999999904916, 0.0999999999990696],
            [0.09018629388851505, 0.09999999999910278, 0.09144593344923399],
        ],
        [
            (-0.5782716274261475, 0.06758943694306499),
            (-0.5808987617492676, 0.08630940545480335),
            (-0.5588266849517822, 0.09999999999932858),
            (-0.4825768768787384, 0.09999999999912554),
            (-0.5008500218391418, 0.09999999999916491),
            (-0.5670176148414612, 0.0999999999990304),
            (-0.5724014043807983, 0.06684834489048544),
            (-0.5787584185600281, 0.08518587984619941),
            (-0.580467164516449, 0.09999999999903064),
            (-0.5766154527664185, 0.07145451908445878),
            (-0.555999219417572, 0.0999999999991521),
            (-0.5073806047439575, 0.08039472806398112),
            (-0.521280825138092, 0.09999999999910512),
            (-0.5742596983909607, 0.09999999999912978),
            (-0.5775547623634338, 0.0999999999990917),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(VEC_PINNED_VALUES))
def test_seeded_vec_runs_reproduce_the_values_recorded_before(name, halfcheetah_victim):
    seen, norms, terminal = run_vec(name, halfcheetah_victim.torch_policy())
    values, sizes, terminals = VEC_PINNED_VALUES[name]
    assert [seen[t] for t in VEC_PINNED] == values
    assert [norms[t] for t in VEC_PINNED] == sizes
    assert terminal[::9] == [tuple(pair) for pair in terminals]
