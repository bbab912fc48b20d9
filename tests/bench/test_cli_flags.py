"""Every flag is checked before any work starts; every error is `advrl: error: ...`, exit 2."""

import subprocess
import sys
import time

import pytest

from advrl import cli
from advrl.cli import main

BAD = [
    # argparse: types and choices
    (["bench", "attacks", "--policies", "ppo-cartpole", "--norm", "l3"],
     "argument --norm: invalid choice: 'l3'"),
    (["bench", "attacks", "--policies", "ppo-cartpole", "--backend", "nosuch"],
     "argument --backend: invalid choice: 'nosuch'"),
    (["bench", "attacks", "--policies", "ppo-cartpole", "--episodes", "0"],
     "argument --episodes: must be >= 1, got 0"),
    (["bench", "attacks", "--policies", "ppo-cartpole", "--seeds", "-1"],
     "argument --seeds: must be >= 0, got -1"),
    (["bench", "attacks", "--policies", "ppo-cartpole", "--eps", "nan"],
     "argument --eps: expected a finite number, got 'nan'"),
    (["bench", "attacks", "--policies", "ppo-cartpole", "--workers", "two"],
     "argument --workers: expected an integer, got 'two'"),
    (["bench", "quick", "--workers", "0"], "argument --workers: must be >= 1, got 0"),
    (["certify", "--method", "exact"], "argument --method: invalid choice: 'exact'"),
    (["certify", "--attack-episodes", "-1"], "argument --attack-episodes: must be >= 0, got -1"),
    (["bench", "hacking", "--steps", "0"], "argument --steps: must be >= 1, got 0"),
    (["bench", "overoptimization", "--pairs", "1"], "argument --pairs: must be >= 2, got 1"),
    (["bench", "cheap-talk", "--victims", "0"], "argument --victims: must be >= 1, got 0"),
    (["bench", "attacks", "--nope"], "unrecognized arguments: --nope"),
    (["bench", "attacks", "--policies", "ppo-cartpole", "--eps"],
     "argument --eps: expected at least one value"),
    (["bench", "nope"], "argument suite: invalid choice: 'nope' (choose from 'attacks', 'quick',"),
    (["nope"], "argument command: invalid choice: 'nope' (choose from 'list', 'bench', 'certify')"),
    # the validation pass: the suite's cells are built (and checked) before any runs
    (["bench", "attacks", "--envs", "Nope-v0"], "no zoo policy for env 'Nope-v0'; zoo: ["),
    (["bench", "attacks"], "give --envs or --policies"),
    (["bench", "attacks", "--policies", "ppo-nope"], "unknown zoo policy 'ppo-nope'; available"),
    (["bench", "attacks", "--policies", "ppo-cartpole", "--address", "ray://x:1"],
     "--address applies to --backend ray only, got --backend local"),
    (["bench", "hacking", "--orpo", "chi3:0.1"],
     "ORPO setting 'chi3:0.1' must look like DIVERGENCE:COEF, with DIVERGENCE one of"),
    (["bench", "hacking", "--orpo", "chi2:x"], "ORPO setting 'chi2:x' must look like"),
    (["bench", "hacking", "--testbeds", "advrl/Nope-v0"], "unknown testbed 'advrl/Nope-v0'"),
    (["bench", "overoptimization", "--tasks", "Nope-v0"], "unknown task 'Nope-v0'"),
    (["bench", "overoptimization", "--noise", "0.7"], "need noise in [0, 0.5]"),
    (["bench", "cheap-talk", "--popsize", "3"], "population must be an even integer >= 2, got 3"),
    (["bench", "robustness", "--models", "m=PPO:/no/such.zip"], "model 'm': no file at"),
]  # fmt: skip


def _error(argv, capsys) -> str:
    """Run ``advrl argv``; return its stderr, checking the exit status is 2."""
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse exits; the validation pass returns
        status = exit_.code
    assert status == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_flag_is_one_clear_line_before_any_work(argv, message, tmp_path, capsys):
    out = tmp_path / "run"
    err = _error([*argv, "--out", str(out)], capsys)
    assert err.startswith(f"advrl: error: {message}")
    assert err.count("\n") == 1 and err.endswith("\n")  # one line: no usage block, no traceback
    assert err[len("advrl: error: ")] not in "'\""  # no stray quotes around the message
    assert not out.exists()  # nothing was run, not even the store created


def test_robustness_checks_env_algorithm_bodies_and_file_before_running(tmp_path, capsys):
    import zipfile

    model, text = tmp_path / "m.zip", tmp_path / "m.txt"
    with zipfile.ZipFile(model, "w") as z:
        z.writestr("data", "{}")
    text.write_text("not a zip")
    cases = [
        ([f"m=PPO:{model}", "--env", "Nope-v5"], "unknown env 'Nope-v5': "),
        ([f"m=PPO:{model}", "--env", "CartPole-v1"], "PerturbDynamics needs a MuJoCo env"),
        ([f"m=PPO:{model}", "--bodies", "tail"], "unknown body name(s) ['tail']; valid bodies"),
        ([f"m=DQN:{model}"], "unknown algorithm 'DQN'; allowed: ['PPO', 'SAC', 'TD3']"),
        ([f"m=PPO:{text}"], f"model 'm': {str(text)!r} is not an SB3 .zip"),
    ]
    for models, message in cases:
        out = tmp_path / "run"
        err = _error(["bench", "robustness", "--out", str(out), "--models", *models], capsys)
        assert err.startswith(f"advrl: error: {message}") and err.count("\n") == 1, err
        assert not out.exists()


def test_an_out_that_is_a_file_is_an_error(tmp_path, capsys):
    out = tmp_path / "file"
    out.write_text("")
    err = _error(["bench", "quick", "--out", str(out)], capsys)
    assert err == f"advrl: error: --out {str(out)!r} is a file; give a run directory\n"


def test_the_norm_is_checked_by_the_cell_too():
    from advrl.bench import Cell

    with pytest.raises(ValueError, match=r"unknown norm 'l3'; allowed: \['linf', 'l2'\]"):
        Cell("ppo-cartpole", "CartPole-v1", "pgd", 0.1, norm="l3")


def test_the_cli_literals_match_the_library():
    from advrl.agents.smoothing.certify import METHODS
    from advrl.attacks.balls import NORMS
    from advrl.bench.backends import BACKENDS

    assert cli.NORMS == NORMS and cli.BACKENDS == BACKENDS and cli.CERTIFY_METHODS == METHODS


def test_a_flag_error_comes_at_once_from_the_command_line(tmp_path):
    argv = ["bench", "attacks", "--policies", "ppo-cartpole", "--norm", "l3"]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "advrl.cli", *argv, "--out", str(tmp_path / "r")],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("advrl: error: argument --norm: invalid choice: 'l3'")
    assert time.perf_counter() - start < 30  # no cell ran (each takes seconds)
    assert not (tmp_path / "r").exists()
