"""advrl: attack, defend and benchmark reinforcement-learning agents.

Importing advrl registers every ``advrl/...`` id with Gymnasium (and PettingZoo for
multi-agent envs). The pillars live in ``advrl.envs``, ``advrl.attacks`` and ``advrl.agents``.

Example:
    >>> import gymnasium as gym
    >>> import advrl
    >>> env = gym.make("advrl/PerturbedObservation-v0", env_id="CartPole-v1", eps=0.05)
    >>> obs, info = env.reset(seed=0)
    >>> sorted(k for k in info if k in ("attack_norm", "obs_clean"))
    ['attack_norm', 'obs_clean']
"""

from advrl import mujoco_warnings
from advrl.registration import register_all

__version__ = "0.1.0"

register_all()
mujoco_warnings.install()

__all__ = ["__version__", "register_all"]
