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


def test_unknown_env_has_no_policy(tmp_path):
    with pytest.raises(SystemExit, match="no zoo policy for env 'Nope-v0'"):
        main(["bench", "attacks", "--envs", "Nope-v0", "--out", str(tmp_path)])


def test_help_comes_from_the_dataclass_fields(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "attacks", "--help"])
    assert "parallel envs per cell" in capsys.readouterr().out
