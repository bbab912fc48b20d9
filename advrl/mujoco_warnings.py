"""Keep one MuJoCo deprecation about Gymnasium's bundled models out of advrl's output.

MuJoCo 4 deprecates the ``<compiler settotalmass="...">`` attribute, and Gymnasium 1.2's
``half_cheetah.xml`` still uses it, so compiling every HalfCheetah (77 times in
``advrl bench quick``) triggers a warning. It is not a Python warning: MuJoCo's C compiler
reports it through ``mju_warning``, whose default handler prints it to stderr (breaking
progress bars) and appends it to ``MUJOCO_LOG.TXT`` in the working directory. ``warnings``
filters cannot reach it, and advrl cannot remove the cause: the attribute is in Gymnasium's
file, and rescaling the masses ourselves would fork the task.

:func:`install` puts a handler in front of MuJoCo's that drops exactly that message and
passes every other warning on unchanged: to a handler installed before it, or to the
console and log file as MuJoCo's default handler does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import mujoco

DEPRECATED_SETTOTALMASS = "compiler attribute 'settotalmass' is deprecated"
"""The start of the one message :func:`install` drops."""


class _DropSettotalmass:
    """A ``mju_user_warning`` handler: drop the settotalmass deprecation, forward the rest."""

    def __init__(self, previous: Callable[[str], None] | None) -> None:
        self.previous = previous

    def __call__(self, message: str) -> None:
        if message.startswith(DEPRECATED_SETTOTALMASS):
            return
        if self.previous is not None:
            self.previous(message)
            return
        # What MuJoCo's default handler does: console and log file, as mjLogConfig says
        # (MuJoCo before 4 has no mjLogConfig and always does both).
        log_config = getattr(mujoco, "MjLogConfig", None)
        config = log_config.get() if log_config is not None else None
        if config is None or config.logto_console:
            print(f"WARNING: {message}\n", file=sys.stderr, flush=True)
        if config is None or config.logto_file:
            mujoco.mju_writeLog("WARNING", message)


def install() -> None:
    """Drop MuJoCo's settotalmass deprecation in this process (idempotent).

    Called on ``import advrl``, so every process that builds advrl envs (bench workers,
    subprocess vec envs, Ray tasks all import advrl) has it.
    """
    current = mujoco.get_mju_user_warning()
    if not isinstance(current, _DropSettotalmass):
        mujoco.set_mju_user_warning(_DropSettotalmass(current))
