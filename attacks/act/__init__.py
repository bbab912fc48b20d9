"""Adversarial Cheap Talk (Lu et al., ICML 2023): an evolution strategy over a message
adversary whose fitness is the training outcome of a fresh victim that hears it.

``es`` is the pure OpenAI-ES maths; ``cartpole`` a batched CartPole-v1; ``population`` a PPO
that trains a whole population of victims in lockstep, on ``stacked`` networks with
hand-derived gradients; ``trainer`` the ACT loop (modes anti, pro, control); ``gym_path`` the
general (slow) path over any Gymnasium env with SB3 PPO.
"""
