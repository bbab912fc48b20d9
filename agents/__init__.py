"""Defenses and trainers.

- ``advrl.agents.smoothing``: policy smoothing and certified reward bounds (Kumar et al. 2022).
- ``advrl.agents.rarl``: RARL, two SB3 learners in a zero-sum force game (Pinto et al. 2017).
- ``advrl.agents.qarl``: QARL, a temperature curriculum for the adversary (Reddi et al. 2024).
- ``advrl.agents.robustness``: evaluation with and without adversaries and perturbed dynamics.
"""
