"""Learned rewards: reward nets from preferences, and conservative ensembles of them.

- :mod:`.nets`: :class:`RewardNet` (MLP on obs / action / next_obs) and weights-only files.
- :mod:`.preferences`: segments from rollouts, synthetic noisy preferences (Bradley-Terry or
  regret scores of the true reward).
- :mod:`.training`: the Bradley-Terry loss and a minibatch Adam trainer with held-out
  pair accuracy (partial-return or regret preference model), an optional gradient penalty
  and a per-epoch local Lipschitz estimate (spectral norm is a :class:`RewardNet` option).
- :mod:`.ensemble`: :class:`RewardEnsemble` with mean, WCO and UWO (Coste et al. 2024).
- :mod:`.distances`: EPIC and STARC distances between rewards on a finite MDP, exactly;
  :mod:`.distances_sampled`: EPIC between reward models on any spaces, by sampling, with a
  bootstrap confidence interval.

Serve a model as an env's reward with :class:`advrl.envs.learned_reward.LearnedReward`.
"""

from advrl.agents.reward_models.distances import (
    epic_canonical,
    epic_distance,
    pearson_distance,
    policy_values,
    potential_shaping,
    starc_canonical,
    starc_distance,
)
from advrl.agents.reward_models.distances_sampled import (
    DistanceEstimate,
    EpicSample,
    draw_epic_sample,
    sample_epic_distance,
    sample_epic_distances,
)
from advrl.agents.reward_models.ensemble import (
    AGGREGATIONS,
    RewardEnsemble,
    aggregate,
    load_ensemble,
    save_ensemble,
    train_ensemble,
)
from advrl.agents.reward_models.nets import RewardNet, load_reward_model, save_reward_model
from advrl.agents.reward_models.preferences import (
    PREFERENCE_MODELS,
    PreferenceData,
    Segments,
    rollout_segments,
    segment_scores,
    synthetic_preferences,
)
from advrl.agents.reward_models.training import (
    PENALTY_SITES,
    GradientPenalty,
    PreferenceTrainer,
    TrainReport,
    bradley_terry_loss,
    pair_accuracy,
    train_reward_model,
)

__all__ = [
    "AGGREGATIONS",
    "DistanceEstimate",
    "EpicSample",
    "GradientPenalty",
    "PENALTY_SITES",
    "PREFERENCE_MODELS",
    "PreferenceData",
    "PreferenceTrainer",
    "RewardEnsemble",
    "RewardNet",
    "Segments",
    "TrainReport",
    "aggregate",
    "bradley_terry_loss",
    "draw_epic_sample",
    "epic_canonical",
    "epic_distance",
    "load_ensemble",
    "load_reward_model",
    "pair_accuracy",
    "pearson_distance",
    "policy_values",
    "potential_shaping",
    "rollout_segments",
    "sample_epic_distance",
    "sample_epic_distances",
    "save_ensemble",
    "save_reward_model",
    "segment_scores",
    "starc_canonical",
    "starc_distance",
    "synthetic_preferences",
    "train_ensemble",
    "train_reward_model",
]
