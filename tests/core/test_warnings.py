"""advrl jobs keep MuJoCo's settotalmass deprecation out of the output and the working dir.

Each check runs in a fresh interpreter in a temporary cwd: the warning is printed by MuJoCo's
C code (not Python's ``warnings``), so pytest's filters neither hide nor catch it, and
``MUJOCO_LOG.TXT`` lands in the cwd of the process that compiles the model.
"""

import os
import subprocess
import sys
import textwrap

import mujoco

from advrl import mujoco_warnings

BALL = '<worldbody><body><freejoint/><geom size=".1"/></body></worldbody>'

# A short advrl job on HalfCheetah, whose Gymnasium model uses <compiler settotalmass>.
ADVRL_JOB = """
import advrl.zoo
from advrl.attacks import evaluate_under_attack, make_attack

victim = advrl.zoo.load("ppo-halfcheetah")
result = evaluate_under_attack(
    victim, None, make_attack("uniform", 0.1), n_episodes=2, n_envs=2,
    env_kwargs={**victim.env_kwargs, "max_episode_steps": 5},
)
assert result.steps == 10, result.steps
print("done")
"""

# Another MuJoCo warning (an unstable simulation) must still be reported as MuJoCo does.
OTHER_WARNING = """
import advrl
import mujoco

model = mujoco.MjModel.from_xml_string(f"<mujoco>{BALL}</mujoco>")
data = mujoco.MjData(model)
data.qvel[:] = 1e20
mujoco.mj_step(model, data)
print("done")
"""


def run_python(code: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", f"BALL = {BALL!r}\n" + textwrap.dedent(code)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_an_advrl_halfcheetah_job_prints_no_settotalmass_and_leaves_no_log(tmp_path):
    proc = run_python(ADVRL_JOB, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert "settotalmass" not in proc.stderr + proc.stdout
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


def test_other_mujoco_warnings_are_still_printed_and_logged(tmp_path):
    proc = run_python(OTHER_WARNING, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING: Nan, Inf or huge value in QVEL" in proc.stderr
    log = tmp_path / "MUJOCO_LOG.TXT"
    assert log.exists() and "Nan, Inf or huge value in QVEL" in log.read_text()


def test_install_chains_to_a_handler_installed_before_it():
    saved = mujoco.get_mju_user_warning()
    seen: list[str] = []
    try:
        mujoco.set_mju_user_warning(seen.append)
        mujoco_warnings.install()
        mujoco_warnings.install()  # idempotent: one filter, still chained to seen.append
        mujoco.MjModel.from_xml_string(f'<mujoco><compiler settotalmass="2"/>{BALL}</mujoco>')
        assert seen == []
        model = mujoco.MjModel.from_xml_string(f"<mujoco>{BALL}</mujoco>")
        data = mujoco.MjData(model)
        data.qvel[:] = 1e20
        mujoco.mj_step(model, data)
        assert len(seen) == 1 and seen[0].startswith("Nan, Inf or huge value in QVEL")
    finally:
        mujoco.set_mju_user_warning(saved)
