"""Conformance checks and hand-built victims for testing attacks and wrappers.

``LinearPolicy`` is a TorchPolicy whose worst-case perturbations are known in closed form;
``check_attack`` verifies the :class:`~advrl.types.ObservationAttack` contract on any attack.
"""

from advrl.testing.checks import check_attack, check_attack_wrapper
from advrl.testing.linear import LinearPolicy

__all__ = ["LinearPolicy", "check_attack", "check_attack_wrapper"]
