"""Off-policy adversarial imitation (DAC / SAM): SAC on a Lipschitz-regularised discriminator.

Blonde, Strasser & Kalousis 2022, "Lipschitzness Is All You Need To Tame Off-policy Generative
Adversarial Imitation Learning" (reference code ``lionelblonde/liayn-pytorch``).

- :mod:`advrl.agents.ail.demos`: expert demonstrations from zoo policies (raw observations).
- :mod:`advrl.agents.ail.discriminator`: ``D(obs, action)``, its loss (BCE, entropy bonus,
  label smoothing, gradient penalty), the imitation reward, weights-only files.
- :mod:`advrl.agents.ail.sac`: :class:`AdversarialSAC`, SB3 SAC whose replay samples are
  relabelled with the current discriminator's reward.
"""

from advrl.agents.ail.demos import Demonstrations, expert_demonstrations
from advrl.agents.ail.discriminator import (
    AILConfig,
    Discriminator,
    discriminator_loss,
    gail_reward,
    lipschitz_estimate,
    load_discriminator,
    save_discriminator,
)
from advrl.agents.ail.sac import AdversarialSAC, RelabelledReplayBuffer

__all__ = [
    "AILConfig",
    "AdversarialSAC",
    "Demonstrations",
    "Discriminator",
    "RelabelledReplayBuffer",
    "discriminator_loss",
    "expert_demonstrations",
    "gail_reward",
    "lipschitz_estimate",
    "load_discriminator",
    "save_discriminator",
]
