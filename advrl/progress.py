"""Progress bars for long-running calls, as SB3's ``learn(progress_bar=True)`` shows them.

Every long call in advrl takes ``progress_bar: bool = False`` and draws one tqdm bar over its
natural unit (timesteps, episodes, generations, epochs). SB3's own bar needs ``rich`` and
draws one bar per ``learn`` call; trainers that alternate two SB3 learners (RARL, QARL) would
show a bar per phase, so they advance one bar of their own through :class:`AdvanceBar`.
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from tqdm.auto import tqdm


def check_progress_bar(value: object) -> bool:
    """``value`` if it is a bool; a TypeError naming it otherwise (check before slow work)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"progress_bar must be True or False, got {value!r}")
    return bool(value)


def progress(enabled: bool, total: int, desc: str, unit: str) -> tqdm:
    """A tqdm bar of ``total`` ``unit`` (on stderr), or a silent one when not ``enabled``.

    A disabled bar prints nothing and its ``update`` is a no-op, so a call has one code path
    either way. Use it as a context manager so the bar closes on errors too.

    Example:
        >>> with progress(False, 3, "demo", "step") as bar:  # silent
        ...     bar.update(3)
        >>> bar.disable, bar.total
        (True, 3)
    """
    check_progress_bar(enabled)
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True)


class AdvanceBar(BaseCallback):
    """An SB3 callback that advances ``bar`` by the env steps, or by the finished episodes
    (``unit="episodes"``), of the model it runs in."""

    def __init__(self, bar: tqdm, unit: str = "timesteps") -> None:
        if unit not in ("timesteps", "episodes"):
            raise ValueError(f"unit must be 'timesteps' or 'episodes', got {unit!r}")
        super().__init__()
        self.bar, self.unit = bar, unit

    def _on_step(self) -> bool:
        if self.unit == "timesteps":
            self.bar.update(self.training_env.num_envs)  # one call steps every env
        else:
            self.bar.update(int(np.sum(self.locals["dones"])))
        return True
