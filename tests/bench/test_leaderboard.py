"""The robustness leaderboard: learned attacks in bench cells, adversary training as a cell
(trained once, stored, reused, resumed after a kill), validation, reports and the CLI."""

import csv
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import advrl.attacks.learned.artifacts as artifacts
from advrl.attacks.learned import registry
from advrl.bench import (
    Cell,
    ResultsStore,
    TrainAdversaryCell,
    attack_suite,
    leaderboard_suite,
    quick_suite,
    run_leaderboard,
    write_leaderboard_report,
)
from advrl.bench.leaderboard import leaderboard_victims
from advrl.bench.leaderboard_report import leaderboard_rows
from advrl.cli import main

TINY = {"optimal": {"batch_size": 64, "n_envs": 1, "n_steps": 64}}
"""Trainer settings for a seconds-long optimal-attack run on CartPole."""


def tiny_suite(**kwargs):
    settings = dict(attacks=["pgd", "optimal"], episodes=2, n_envs=2, adversary_steps=64,
                    use_shipped=False, adversary_options=TINY)  # fmt: skip
    return leaderboard_suite(["ppo-cartpole"], **{**settings, **kwargs})


@pytest.fixture
def trainer_calls(monkeypatch):
    """Every call of the adversary trainer (the real one, on tiny settings)."""
    calls = []
    real = registry.train_adversary

    def counting(kind, victim, eps, steps, **kwargs):
        calls.append((kind, victim, eps, steps))
        return real(kind, victim, eps, steps, **kwargs)

    monkeypatch.setattr(registry, "train_adversary", counting)
    return calls


@pytest.fixture(scope="module")
def cartpole_adversary(tmp_path_factory):
    """A tiny trained optimal-attack adversary for ppo-cartpole at its standard eps (0.5)."""
    from advrl.attacks.learned import train_optimal_attack

    folder = tmp_path_factory.mktemp("shipped")
    trained = train_optimal_attack("ppo-cartpole", 0.5, 64, **TINY["optimal"])
    trained.save(folder / "optimal-ppo-cartpole.safetensors", command="tiny")
    return folder


@pytest.fixture
def shipped(monkeypatch, cartpole_adversary):
    """The shipped-adversary folder, holding only the tiny ppo-cartpole adversary."""
    monkeypatch.setattr(artifacts, "ADVERSARY_DIR", cartpole_adversary)
    return cartpole_adversary


def test_cells_of_other_attacks_keep_their_keys():
    # Keys from before learned attacks existed: old run directories still resume.
    assert Cell("ppo-cartpole", "CartPole-v1", "pgd", 0.2, episodes=2, n_envs=2).key == (
        "ppo-cartpole-pgd-0.2-s0-c4ecd841fd"
    )
    assert Cell("ppo-hopper", "Hopper-v5", "none", 0.0).key == "ppo-hopper-none-0-s0-0ef7c0877e"
    cell = Cell("ppo-hopper", "Hopper-v5", "mad", 0.075, seed=1, norm="l2")
    assert cell.key == "ppo-hopper-mad-0.075-s1-6202fa14d1"
    assert "adversary" not in cell.to_dict() and "run_dir" not in cell.to_dict()


def test_the_run_directory_is_not_part_of_a_cell():
    a = Cell("ppo-cartpole", "CartPole-v1", "optimal", 0.5, adversary="adversaries/x.safetensors")
    b = Cell(**{**vars(a), "run_dir": "/somewhere/else"})
    assert a == b and a.key == b.key and "run_dir" not in a.to_dict()
    assert a.to_dict()["adversary"] == "adversaries/x.safetensors"
    c = Cell(**{**vars(a), "adversary": "adversaries/y.safetensors"})
    assert c.key != a.key  # another adversary is another cell
    train = TrainAdversaryCell("optimal", "ppo-cartpole", 0.5, 64)
    assert train.key == TrainAdversaryCell("optimal", "ppo-cartpole", 0.5, 64, run_dir="/x").key
    assert train.path == f"adversaries/{train.key}.safetensors"
    with pytest.raises(ValueError, match="adversary file applies to learned attacks"):
        Cell("ppo-cartpole", "CartPole-v1", "pgd", 0.5, adversary="x.safetensors")
    with pytest.raises(ValueError, match="unknown adversary kind 'rs_mad'"):
        TrainAdversaryCell("rs_mad", "ppo-cartpole", 0.5, 64)  # a kind, not an attack name


def test_an_eval_cell_whose_adversary_file_is_missing_fails_clearly(tmp_path):
    cell = Cell("ppo-cartpole", "CartPole-v1", "optimal", 0.5, episodes=1, n_envs=1,
                adversary="adversaries/gone.safetensors", run_dir=str(tmp_path))  # fmt: skip
    missing = str(tmp_path / "adversaries" / "gone.safetensors")
    with pytest.raises(FileNotFoundError, match=f"adversary file '{missing}' is missing"):
        cell.run()


def test_attack_suite_runs_learned_attacks_on_shipped_adversaries(shipped, tmp_path):
    cells = attack_suite(["ppo-cartpole"], ["optimal"], episodes=2, n_envs=2)
    assert [(c.attack, c.adversary) for c in cells] == [("none", None), ("optimal", None)]
    result = cells[1].run()
    assert 0 < result["mean_attack_norm"] <= result["max_attack_norm"] <= 0.5 + 1e-6
    with pytest.raises(ValueError, match=r"was trained for eps=0.5, norm='linf', not eps=0.3"):
        attack_suite(["ppo-cartpole"], ["optimal"], eps=[0.3])
    with pytest.raises(ValueError, match="no shipped 'rs' adversary for 'ppo-cartpole'"):
        attack_suite(["ppo-cartpole"], ["rs_mad"])
    with pytest.raises(ValueError, match="unknown attack 'nope'.*learned attacks"):
        attack_suite(["ppo-cartpole"], ["nope"])


def test_a_second_run_trains_nothing_and_a_moved_run_resumes(tmp_path, trainer_calls):
    suite = tiny_suite()
    assert [c.adversary_kind for c in suite.training] == ["optimal"]
    first = run_leaderboard(suite, tmp_path / "a", workers=1, progress=False)
    assert len(trainer_calls) == 1 and len(first.computed) == 4  # adversary + 3 eval cells
    store = ResultsStore(tmp_path / "a")
    trained = store.get(suite.training[0])
    assert (tmp_path / "a" / trained["adversary"]).is_file()
    assert (tmp_path / "a" / trained["adversary"]).with_suffix(".json").is_file()  # its card
    optimal = next(c for c in suite.evaluation if c.attack == "optimal")
    assert optimal.adversary == trained["adversary"]
    assert store.get(optimal)["max_attack_norm"] <= 0.5 + 1e-6
    second = run_leaderboard(tiny_suite(), tmp_path / "a", workers=1, progress=False)
    assert len(trainer_calls) == 1 and not second.computed and len(second.skipped) == 4
    shutil.move(tmp_path / "a", tmp_path / "b")  # keys do not depend on where the run lives
    moved = run_leaderboard(tiny_suite(), tmp_path / "b", workers=1, progress=False)
    assert len(trainer_calls) == 1 and not moved.computed


def test_a_stored_adversary_whose_file_was_deleted_is_a_clear_error(tmp_path, trainer_calls):
    suite = tiny_suite(attacks=["optimal"])
    run_leaderboard(suite, tmp_path, workers=1, progress=False)
    (tmp_path / suite.training[0].path).unlink()
    with pytest.raises(FileNotFoundError, match="missing although its training cell is stored"):
        run_leaderboard(suite, tmp_path, workers=1, progress=False)
    assert len(trainer_calls) == 1


KILLED_RUN = """
import sys
from advrl.attacks.learned import registry
from advrl.bench import leaderboard_suite, run_leaderboard
real = registry.train_adversary
def logged(*args, **kwargs):
    open(sys.argv[2], "a").write("trained\\n")
    return real(*args, **kwargs)
registry.train_adversary = logged
suite = leaderboard_suite(["ppo-cartpole"], ["uniform", "pgd", "mad", "optimal"], episodes=3,
                          n_envs=1, adversary_steps=64, use_shipped=False,
                          adversary_options={"optimal": %r})
run_leaderboard(suite, sys.argv[1], workers=1, progress=False)
"""


def test_a_killed_leaderboard_resumes_without_retraining(tmp_path, trainer_calls):
    out, log = tmp_path / "run", tmp_path / "trained.log"
    code = KILLED_RUN % (TINY["optimal"],)
    proc = subprocess.Popen([sys.executable, "-c", code, str(out), str(log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 240
    while time.time() < deadline and len(list((out / "cells").glob("*.json"))) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = {p.name: p.read_bytes() for p in (out / "cells").glob("*.json")}
    assert 2 <= len(stored) < 6, "the kill should land mid-run, after the adversary"
    assert log.read_text() == "trained\n"
    suite = leaderboard_suite(["ppo-cartpole"], ["uniform", "pgd", "mad", "optimal"], episodes=3,
                              n_envs=1, adversary_steps=64, use_shipped=False,
                              adversary_options=TINY)  # fmt: skip
    resumed = run_leaderboard(suite, out, workers=1, progress=False)
    assert trainer_calls == [] and sorted(resumed.skipped) == sorted(p[:-5] for p in stored)
    assert len(resumed.computed) == 6 - len(stored)
    assert {p: (out / "cells" / p).read_bytes() for p in stored} == stored  # nothing rewritten


def test_use_shipped_takes_a_fitting_shipped_adversary_instead_of_training(shipped):
    suite = leaderboard_suite(["ppo-cartpole"], ["optimal"], episodes=2, adversary_steps=64)
    assert suite.training == [] and suite.evaluation[1].adversary is None
    other_eps = leaderboard_suite(["ppo-cartpole"], ["optimal"], eps=0.3, adversary_steps=64)
    assert [c.eps for c in other_eps.training] == [0.3]  # shipped for 0.5: trained instead
    not_shipped = leaderboard_suite(["ppo-cartpole"], ["optimal"], use_shipped=False)
    assert len(not_shipped.training) == 1


def test_every_seed_trains_its_adversary_and_rs_mad_shares_the_rs_critic():
    suite = leaderboard_suite(["ppo-hopper"], ["rs", "rs_mad", "optimal"], seeds=[0, 1],
                              adversary_steps=10, use_shipped=False)  # fmt: skip
    assert sorted((c.adversary_kind, c.seed) for c in suite.training) == [
        ("optimal", 0), ("optimal", 1), ("rs", 0), ("rs", 1)
    ]  # fmt: skip
    rs = {c.adversary for c in suite.evaluation if c.attack in ("rs", "rs_mad") and c.seed == 0}
    assert len(rs) == 1
    assert {c.eps for c in suite.evaluation if c.attack != "none"} == {0.075}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(attacks=["nope"]), ValueError, "unknown attack 'nope'; allowed: .*'optimal'"),
        (dict(eps=-0.1), ValueError, "eps must be a finite number > 0, got -0.1"),
        (dict(eps=0.0), ValueError, "eps must be a finite number > 0, got 0.0"),
        (dict(adversary_steps=0), ValueError, "adversary_steps must be an integer >= 1, got 0"),
        (dict(episodes=0), ValueError, "episodes must be an integer >= 1, got 0"),
        (dict(seeds=[-1]), ValueError, "seeds must be integers >= 0, got -1"),
        (dict(victims=["ppo-nope"]), KeyError, "unknown zoo policy 'ppo-nope'; available"),
        (dict(victims=[]), ValueError, "no victims"),
        (dict(adversary_options={"optimum": {}}), ValueError, "unknown adversary kind 'optimum'"),
        (dict(attacks=["rs"]), ValueError, "rs need a continuous-action victim; 'ppo-cartpole'"),
    ],
)
def test_bad_suite_input_is_a_clear_error_before_any_cell(kwargs, error, message):
    victims = kwargs.pop("victims", ["ppo-cartpole"])
    with pytest.raises(error, match=message):
        leaderboard_suite(victims, **{"attacks": ["pgd", "optimal"], **kwargs})


def test_a_learned_attack_whose_code_is_missing_is_refused_up_front(monkeypatch):
    broken = registry.LearnedAttack("optimal", "advrl.attacks.learned.nosuch:train",
                                    "advrl.attacks.learned.nosuch:load")  # fmt: skip
    monkeypatch.setitem(registry.LEARNED_ATTACKS, "optimal", broken)
    with pytest.raises(ValueError, match="learned attack 'optimal' is not available: No module"):
        leaderboard_suite(["ppo-cartpole"], ["optimal"])


def test_defenses_map_to_zoo_victims_or_a_clear_error():
    assert leaderboard_victims(["Hopper-v5", "HalfCheetah-v5"], ["ppo", "smooth"]) == [
        "ppo-hopper", "ppo-halfcheetah", "ppo-halfcheetah-smooth-sigma0.1"
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"no zoo policy 'sappo-cartpole' .*zoo: \[.*'ppo-ant'"):
        leaderboard_victims(["CartPole-v1"], ["ppo", "sappo"])
    with pytest.raises(ValueError, match=r"unknown defense 'adv'; allowed: \['ppo', 'sappo'"):
        leaderboard_victims(["Hopper-v5"], ["adv"])
    with pytest.raises(ValueError, match="unknown env 'Nope-v0'"):
        leaderboard_victims(["Nope-v0"], ["ppo"])
    with pytest.raises(ValueError, match=r"no smoothed zoo policy for \['Hopper-v5'\]"):
        leaderboard_victims(["Hopper-v5"], ["smooth"])


def test_a_smoothed_victim_is_attacked_at_its_base_envs_budget_with_its_noise():
    suite = leaderboard_suite(["ppo-halfcheetah-smooth-sigma0.1"], ["pgd"])
    assert [(c.env, c.eps) for c in suite.evaluation] == [
        ("advrl/SmoothedHalfCheetah-v0", 0.0), ("advrl/SmoothedHalfCheetah-v0", 0.15)
    ]  # fmt: skip


# --- reports from a hand-made store -------------------------------------------------------


def _result(mean):
    return {"mean_return": float(mean), "std_return": 0.0, "mean_attack_norm": 0.0,
            "max_attack_norm": 0.0, "steps": 10, "seconds": 0.1}  # fmt: skip


def _put(store, policy, env, attack, eps, seed, mean, **kw):
    store.put(Cell(policy, env, attack, eps, seed, **kw), _result(mean))


def _store_with_adversaries(tmp_path, steps):
    """ppo-hopper, seeds 0-2: natural 3000/3100/2900; pgd and the optimal attack trained for
    each of ``steps`` (the first as below, later ones 100 lower)."""
    store = ResultsStore(tmp_path)
    pgd = {0: 1500, 1: 1200, 2: 1250}
    optimal = {0: 1000, 1: 1400, 2: 1300}
    for seed, natural in ((0, 3000), (1, 3100), (2, 2900)):
        _put(store, "ppo-hopper", "Hopper-v5", "none", 0.0, seed, natural)
        _put(store, "ppo-hopper", "Hopper-v5", "pgd", 0.075, seed, pgd[seed])
        for i, n in enumerate(steps):
            train = TrainAdversaryCell("optimal", "ppo-hopper", 0.075, n, seed=seed)
            store.put(train, {"mean_return": 0.0, "adversary": train.path})
            _put(store, "ppo-hopper", "Hopper-v5", "optimal", 0.075, seed,
                 optimal[seed] - 100 * i, adversary=train.path)  # fmt: skip
    return store


def test_worst_case_is_the_median_over_seeds_of_each_seeds_worst_attack(tmp_path):
    store = _store_with_adversaries(tmp_path, [1000])
    _put(store, "sappo-hopper", "Hopper-v5", "none", 0.0, 0, 2500)
    _put(store, "sappo-hopper", "Hopper-v5", "pgd", 0.075, 0, 2000)
    rows, attacks, settings = leaderboard_rows(tmp_path)
    assert attacks == ["pgd", "optimal"] and settings == []
    ppo, sappo = rows
    assert (ppo["env"], ppo["defense"], ppo["seeds"]) == ("Hopper-v5", "ppo", "0 1 2")
    assert (ppo["natural"], ppo["pgd"], ppo["optimal"]) == (3000, 1250, 1300)
    # Per seed: 1000 (optimal), 1200 (pgd), 1250 (pgd); the median of those, not the lowest
    # median (1250): the SA-PPO protocol takes each agent's worst case, then the median.
    assert ppo["worst_case"] == 1200 and ppo["worst_ratio"] == pytest.approx(0.4)
    assert ppo["worst_attack"] == "pgd (2/3 seeds), optimal (1/3 seeds)"
    assert ppo["adversaries"] == "optimal: trained 1000 steps"
    assert (sappo["defense"], sappo["worst_case"], sappo["worst_attack"]) == ("sappo", 2000, "pgd")
    paths = write_leaderboard_report(tmp_path)
    table = list(csv.DictReader(paths["csv"].open()))
    assert [r["defense"] for r in table] == ["ppo", "sappo"]
    assert table[0]["worst_case"] == "1200.0" and table[1]["optimal"] == ""
    assert "| Hopper-v5 | ppo | 0.075 | 0 1 2 | 3000 | 1250 | 1300 | 1200 (40%) |" in (
        paths["markdown"].read_text()
    )
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_adversaries_trained_for_other_steps_are_never_merged(tmp_path):
    _store_with_adversaries(tmp_path, [1000, 2000])
    rows, _, _ = leaderboard_rows(tmp_path)
    assert [(r["adversaries"], r["optimal"], r["pgd"]) for r in rows] == [
        ("optimal: trained 1000 steps", 1300, 1250), ("optimal: trained 2000 steps", 1200, 1250)
    ]  # fmt: skip


def test_other_episodes_are_a_column_and_smoothed_victims_join_their_base_env(tmp_path):
    store = ResultsStore(tmp_path)
    for episodes, value in ((10, 900), (50, 1000)):
        _put(store, "ppo-walker2d", "Walker2d-v5", "none", 0.0, 0, 4000, episodes=episodes)
        _put(store, "ppo-walker2d", "Walker2d-v5", "mad", 0.05, 0, value, episodes=episodes)
    smooth = ("ppo-halfcheetah-smooth-sigma0.1", "advrl/SmoothedHalfCheetah-v0")
    _put(store, *smooth, "none", 0.0, 0, 1700)
    _put(store, *smooth, "pgd", 0.15, 0, 800)
    rows, _, settings = leaderboard_rows(tmp_path)
    assert settings == ["episodes"]
    assert [(r["env"], r["defense"], r["episodes"], r["worst_case"]) for r in rows] == [
        ("Walker2d-v5", "ppo", 10, 900), ("Walker2d-v5", "ppo", 50, 1000),
        ("HalfCheetah-v5", "ppo-smooth-sigma0.1", 50, 800),
    ]  # fmt: skip
    assert "| episodes |" in write_leaderboard_report(tmp_path)["markdown"].read_text()


# --- the command line -----------------------------------------------------------------------


def test_bench_leaderboard_runs_and_reports(tmp_path, capsys, shipped):
    argv = ["bench", "leaderboard", "--envs", "CartPole-v1", "--defenses", "ppo", "--attacks",
            "uniform", "optimal", "--episodes", "1", "--n-envs", "1", "--workers", "1",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "0 adversaries to train or reuse" in out  # the shipped one fits
    assert "| CartPole-v1 | ppo | 0.5 | 0 | 500 |" in out and "optimal: shipped" in out
    assert (tmp_path / "leaderboard.csv").is_file() and (tmp_path / "leaderboard.png").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--eps", "-1"], "eps must be a finite number > 0, got -1.0"),
        (["--defenses", "adv"], "argument --defenses: invalid choice: 'adv'"),
        (["--adversary-steps", "0"], "argument --adversary-steps: must be >= 1, got 0"),
        (["--attacks", "nope"], "unknown attack 'nope'"),
        (["--envs", "CartPole-v1", "--defenses", "atla"], "no zoo policy 'atla-cartpole'"),
    ],
)
def test_bad_leaderboard_flags_are_one_clear_line(argv, message, tmp_path, capsys):
    try:
        status = main(["bench", "leaderboard", *argv, "--out", str(tmp_path / "r")])
    except SystemExit as exit_:
        status = exit_.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("advrl: error: ") and message in err
    assert not (tmp_path / "r").exists()


def test_the_leaderboard_literals_match_the_library():
    from advrl import cli_args
    from advrl.bench import leaderboard

    assert cli_args.DEFENSES == leaderboard.DEFENSES
    assert cli_args.LEADERBOARD_ENVS == leaderboard.LEADERBOARD_ENVS
    assert cli_args.LEADERBOARD_ATTACKS == leaderboard.LEADERBOARD_ATTACKS
    assert set(leaderboard.LEADERBOARD_ATTACKS) - {"uniform", "critic", "mad", "pgd"} == set(
        registry.LEARNED_ATTACKS
    )


def test_quick_adds_the_shipped_learned_attacks_and_says_which_are_missing(
    tmp_path, capsys, monkeypatch, shipped
):
    import advrl.bench
    from advrl.bench import cells

    assert {c.attack for c in quick_suite()} == {"none", *cells.CONTINUOUS_ATTACKS}
    monkeypatch.setattr(cells, "QUICK_POLICIES", ("ppo-cartpole",))
    assert {c.attack for c in quick_suite(episodes=1)} == {"none", *cells.CONTINUOUS_ATTACKS,
                                                           "optimal"}  # fmt: skip
    small = attack_suite(["ppo-cartpole"], ["fgsm", "optimal"], episodes=1, n_envs=1)
    monkeypatch.setattr(advrl.bench, "quick_suite", lambda episodes: small)
    monkeypatch.setattr(cells, "QUICK_POLICIES", ("ppo-halfcheetah", "ppo-cartpole", "ppo-hopper"))
    assert main(["bench", "quick", "--workers", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "learned attacks left out (no shipped adversary for the standard eps): " in out
    assert "ppo-halfcheetah: optimal; ppo-hopper: optimal" in out  # none shipped in this test
    header = next(line for line in out.splitlines() if line.startswith("| env |"))
    assert "| natural | optimal | fgsm | worst case | worst attack |" in header
    assert (tmp_path / "results.md").is_file() and (tmp_path / "leaderboard.md").is_file()


def test_the_attack_report_of_a_leaderboard_ignores_its_adversary_cells(tmp_path):
    from advrl.bench import rows

    _store_with_adversaries(tmp_path, [1000])
    assert {r["attack"] for r in rows(tmp_path)} == {"none", "pgd", "optimal"}
    assert len(rows(tmp_path)) == 9  # 3 seeds x 3 attack cells; no adversary cell among them


def test_leaderboard_help_shows_the_bool_flag_pair(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "leaderboard", "--help"])
    assert exit_info.value.code == 0
    assert "--use-shipped, --no-use-shipped" in capsys.readouterr().out


def test_a_reshipped_adversary_changes_the_cell_key(tmp_path, monkeypatch):
    # A cell on the shipped adversary must not reuse results of the file it replaced.
    import advrl.attacks.learned.artifacts as artifacts
    from advrl.bench.cells import Cell

    monkeypatch.setattr(artifacts, "ADVERSARY_DIR", tmp_path)
    cell = Cell("ppo-hopper", "Hopper-v5", "optimal", 0.075)
    missing = cell.key
    (tmp_path / "optimal-ppo-hopper.safetensors").write_bytes(b"first")
    first = cell.key
    (tmp_path / "optimal-ppo-hopper.safetensors").write_bytes(b"second")
    assert len({missing, first, cell.key}) == 3
    assert Cell("ppo-hopper", "Hopper-v5", "pgd", 0.075).key == Cell(
        "ppo-hopper", "Hopper-v5", "pgd", 0.075).key  # fmt: skip
