"""Adversarial policies in two-player MuJoCo (Gleave et al. 2020; Liu et al.): resumable
cells, one per (game, victim, budget, defense, seed). ``advrl bench adversarial-policies``.

A cell loads the shipped victim and the opponent's normally trained policy (zoo names),
optionally defends the victim by adversarial training with timescale separation
(:class:`~advrl.agents.self_play.TakeTurns`: the attacker takes ``attacker_ratio`` times the
victim's steps per round), trains a fresh adversarial policy against the (defended) victim
within ``budget`` (:func:`~advrl.attacks.adversarial_policy.train_adversarial_policy`), and
plays, ``episodes`` games each, with Wilson 95% intervals:

- ``attacked``: the adversary (within the budget) against the victim;
- ``normal``: the normal opponent against the victim (the baseline an attack must beat);
- ``adversary_vs_reference`` / ``normal_vs_reference``: each against a reference player in
  the victim's seat (sumo: the normal policy, which plays either side; you-shall-not-pass: a
  scripted runner), the game's own measure of how well each plays (Gleave et al.'s
  observation: adversaries win by inducing off-distribution observations, not by playing
  well).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from advrl.bench.cells import config_key
from advrl.zoo.train_games import PPO_GAMES

SEATS = {"sumo": ("player_0", "player_1"), "you_shall_not_pass": ("runner", "blocker")}
"""Per game: (the victim's seat, the attacker's seat)."""
VICTIMS = {"sumo": ("ppo-sumo", "ppo-sumo-s1"),
           "you_shall_not_pass": ("ppo-ysnp-runner", "ppo-ysnp-blocker")}  # fmt: skip
"""Per game: the shipped (victim, normal opponent)."""
DEFENSES = ("none", "adversarial_training")
PPO_ADVERSARY = {**PPO_GAMES}
"""The adversary learns with the victims' own PPO settings."""


@dataclass(frozen=True)
class AdversarialPolicyCell:
    """Train an adversarial policy against a (possibly defended) victim and play matches."""

    game: str = "sumo"
    budget: float = 1.0
    seed: int = 0
    steps: int = 300_000
    episodes: int = 200
    mode: str = "mixture"
    defense: str = "none"
    defense_rounds: int = 20
    attacker_ratio: int = 4
    victim: str = ""
    normal: str = ""
    n_envs: int = 8

    kind: ClassVar[str] = "adversarial_policy"

    def __post_init__(self) -> None:
        from advrl.attacks.adversarial_policy import MODES, check_budget

        if self.game not in SEATS:
            raise ValueError(f"unknown game {self.game!r}; allowed: {sorted(SEATS)}")
        check_budget(self.budget)
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; allowed: {list(MODES)}")
        if self.defense not in DEFENSES:
            raise ValueError(f"unknown defense {self.defense!r}; allowed: {list(DEFENSES)}")
        for name in ("steps", "episodes", "defense_rounds", "attacker_ratio", "n_envs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")

    @property
    def names(self) -> tuple[str, str]:
        """The zoo names of the victim and the normal opponent (the game's defaults if unset)."""
        victim, normal = VICTIMS[self.game]
        return self.victim or victim, self.normal or normal

    @property
    def label(self) -> str:
        defended = "" if self.defense == "none" else " defended"
        return f"{self.game}{defended} budget {self.budget:g} s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        config = {"kind": self.kind, **asdict(self)}
        config["victim"], config["normal"] = self.names
        if self.defense == "none":  # the defense's settings do not change an undefended run
            del config["defense_rounds"], config["attacker_ratio"]
        return config

    @property
    def key(self) -> str:
        return config_key(f"advpol-{self.game}-{self.defense}-b{self.budget:g}-s{self.seed}",
                          self.to_dict())  # fmt: skip

    def run(self) -> dict[str, Any]:
        import advrl.zoo
        from advrl.attacks.adversarial_policy import sb3_batch_policy, train_adversarial_policy

        victim_seat, attacker_seat = SEATS[self.game]
        victim_name, normal_name = self.names
        victim = advrl.zoo.load(victim_name).model
        normal = advrl.zoo.load(normal_name).model
        result: dict[str, Any] = {}
        if self.defense == "adversarial_training":
            start = time.perf_counter()
            victim = defend(self, victim)
            result["defense_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        adversary = train_adversarial_policy(
            self.game, victim, victim_seat, self.steps, normal=normal, budget=self.budget,
            mode=self.mode, n_envs=self.n_envs, ppo_kwargs=PPO_ADVERSARY, seed=self.seed,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        policies = {"victim": sb3_batch_policy(victim), "normal": sb3_batch_policy(normal),
                    "adversary": sb3_batch_policy(adversary)}  # fmt: skip
        result |= matches(self, policies)
        return {**result, "adversary_seconds": seconds, "adversary_steps_per_second":
                self.steps / seconds, "mean_return": result["attacked"]["win_rate"]}  # fmt: skip


def defend(cell: AdversarialPolicyCell, victim):
    """Adversarial training of the victim with timescale separation (Liu et al.):
    each round the attacker (a fresh PPO learner, in full control) takes ``attacker_ratio``
    victim rollouts' worth of steps, then the victim one rollout."""
    from advrl.agents.self_play import TakeTurns

    victim_seat, attacker_seat = SEATS[cell.game]
    rollout = PPO_ADVERSARY["n_steps"] * cell.n_envs
    turns = TakeTurns(cell.game, models={victim_seat: victim}, n_envs=cell.n_envs,
                      steps={victim_seat: rollout, attacker_seat: cell.attacker_ratio * rollout},
                      ppo_kwargs=PPO_ADVERSARY, seed=cell.seed + 7_000)  # fmt: skip
    return turns.learn(cell.defense_rounds).models[victim_seat]


def reference_player(game: str, normal):
    """Who sits in the victim's seat for the game's own measure of the opponents' play."""
    from advrl.attacks.adversarial_policy import sb3_batch_policy
    from advrl.zoo.train_games import run_forward

    return sb3_batch_policy(normal) if game == "sumo" else run_forward


def matches(cell: AdversarialPolicyCell, policies: dict[str, Any]) -> dict[str, Any]:
    import functools

    from advrl.attacks.adversarial_policy import PartialControl, play_matches
    from advrl.envs.competitive import make_game

    victim_seat, attacker_seat = SEATS[cell.game]
    game = functools.partial(make_game, cell.game)
    normal_model = policies["normal"].model

    def attacked_game():
        return PartialControl(game(), attacker_seat, policies["normal"], cell.budget, cell.mode)

    reference = reference_player(cell.game, normal_model)
    seed = 10_000 + cell.seed
    plays = {
        "attacked": (attacked_game, policies["victim"], policies["adversary"]),
        "normal": (game, policies["victim"], policies["normal"]),
        "adversary_vs_reference": (attacked_game, reference, policies["adversary"]),
        "normal_vs_reference": (game, reference, policies["normal"]),
    }
    out = {}
    for name, (make, seated, opponent) in plays.items():
        rec = play_matches(make, {victim_seat: seated, attacker_seat: opponent}, attacker_seat,
                           cell.episodes, seed=seed)  # fmt: skip
        out[name] = {"wins": rec.wins, "losses": rec.losses, "draws": rec.draws,
                     "episodes": rec.episodes, "win_rate": rec.win_rate,
                     "win_ci": list(rec.win_interval()),
                     "shaping": rec.shaping[attacker_seat]}  # fmt: skip
    return out


def adversarial_policies_suite(
    games: list[str], budgets: list[float], seeds: list[int], steps: int = 300_000,
    episodes: int = 200, defenses: list[str] | None = None, mode: str = "mixture",
    defense_rounds: int = 20, attacker_ratio: int = 4,
) -> list[AdversarialPolicyCell]:  # fmt: skip
    """One cell per game, defense, budget and seed (defended victims: budget 1 only).

    Raises:
        ValueError: a bad setting, or a game whose victims are not in the zoo (before any
            cell runs).
    """
    import advrl.zoo

    cells = []
    for game in games:
        for defense in defenses or ["none"]:
            for budget in budgets if defense == "none" else [1.0]:
                cells += [AdversarialPolicyCell(game, budget, seed, steps, episodes, mode, defense,
                                                defense_rounds, attacker_ratio)
                          for seed in seeds]  # fmt: skip
    shipped = set(advrl.zoo.names())
    missing = sorted({n for c in cells for n in c.names if n not in shipped})
    if missing:
        raise ValueError(f"victims {missing} are not in the zoo; train them with "
                         "python -m advrl.zoo.train_games (see its docstring)")  # fmt: skip
    return cells
