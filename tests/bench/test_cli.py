"""The advrl command."""

import pytest

from advrl.cli import main


def test_list_prints_every_id_and_zoo_policy(capsys):
    from advrl.registration import all_entries

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for _, entry in all_entries():
        assert entry.id in out and entry.description in out
    assert "ppo-cartpole" in out


def test_bench_attacks_writes_reports(tmp_path, capsys):
    argv = [
        "bench", "attacks", "--envs", "CartPole-v1", "--attacks", "fgsm", "targeted",
        "--episodes", "2", "--workers", "1", "--out", str(tmp_path),
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| ppo-cartpole | targeted | 0.5 |" in out
    assert (tmp_path / "results.csv").is_file() and (tmp_path / "returns_vs_eps.png").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "attacks", "--policies", "ppo-cartpole", "--attacks", "nope"], "unknown attack"),
        (["bench", "attacks", "--policies", "ppo-nope"], "unknown zoo policy"),
        (["bench", "attacks", "--policies", "ppo-cartpole", "--eps", "-1"], "eps must be"),
    ],
)
def test_bad_arguments_are_clear_errors(argv, message, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_unknown_env_has_no_policy(tmp_path, capsys):
    assert main(["bench", "attacks", "--envs", "Nope-v0", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("advrl: error: no zoo policy for env 'Nope-v0'")


def test_help_comes_from_the_dataclass_fields(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "attacks", "--help"])
    assert "parallel envs per cell" in capsys.readouterr().out


def test_certify_writes_the_certificate_and_the_empirical_check(tmp_path, capsys):
    import csv

    argv = [
        "certify", "--episodes", "300", "--budgets", "0:0.4:0.2", "--attack-episodes", "10",
        "--workers", "1", "--out", str(tmp_path),
    ]  # fmt: skip
    assert main(argv) == 0
    rows = list(csv.DictReader((tmp_path / "certificate.csv").open()))
    assert [float(r["budget"]) for r in rows] == [0.0, 0.2, 0.4]
    bounds = [float(r["certified_mean"]) for r in rows]
    assert bounds[0] > bounds[1] > bounds[2]
    assert all(float(r["attacked_mean"]) >= float(r["certified_mean"]) for r in rows)
    assert (tmp_path / "certificate.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sigma", "0"], "sigma must be a finite number > 0"),
        (["--budgets", "0,-1"], "budgets must be finite numbers >= 0"),
        (["--budgets", "0:1:0"], "must be 'start:stop:step'"),
        (["--alpha", "1.5"], "alpha must be in (0, 1)"),
        (["--episodes", "1"], "too few"),
        (["--policy", "ppo-cartpole"], "was not trained with smoothing noise"),
    ],
)
def test_certify_bad_input(extra, message, tmp_path, capsys):
    argv = ["certify", "--attack-episodes", "0", "--workers", "1", "--out", str(tmp_path)]
    assert main(argv + extra) == 2
    assert message in capsys.readouterr().err


def test_bench_hacking_writes_its_reports(tmp_path, capsys):
    argv = [
        "bench", "hacking", "--action-kl", "0.1", "--orpo", "sqrt_chi2:0.2", "--seeds", "0",
        "--steps", "2048", "--workers", "1", "--out", str(tmp_path),
    ]  # fmt: skip
    assert main(argv) == 0
    table = (tmp_path / "hacking.md").read_text()
    for method in ("| ppo |", "| action_kl |", "| orpo |"):
        assert method in table
    assert (tmp_path / "hacking.csv").read_text().count("\n") == 4  # header + 3 runs
    assert (tmp_path / "hacking.png").read_bytes()[:4] == b"\x89PNG"
    assert main([*argv[:5], "bad", *argv[6:]]) == 2  # "--orpo bad" lacks DIVERGENCE:COEF


def test_smoothing_suite_has_no_single_policy_flag(capsys):
    with pytest.raises(SystemExit):  # --policy belongs to `advrl certify`, not the suite
        main(["bench", "smoothing", "--policy", "ppo-cartpole"])
    assert "unrecognized arguments: --policy" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["list"], ["certify"]]
    + [["bench", s] for s in ("attacks", "quick", "smoothing", "robustness", "hacking",
                              "cheap-talk", "overoptimization", "leaderboard")],  # fmt: skip
)
def test_every_command_prints_its_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    assert "usage: advrl" in capsys.readouterr().out
