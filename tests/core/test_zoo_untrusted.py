"""Zoo checkpoints from an unknown origin: every crafted header or tensor is refused, fast.

Each test writes a bad file with safetensors itself and expects a ``CheckpointError`` (a
``ValueError``) naming the bad field, raised before any SB3 model is built.
"""

import json
import struct
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from safetensors.torch import save_file
from stable_baselines3 import PPO

import advrl.zoo
from advrl.zoo import CheckpointError, load_file, schema
from advrl.zoo import checkpoint as ckpt_module
from tests.conftest import tiny

HEADER = {
    "algo": "PPO",
    "env_id": "CartPole-v1",
    "env_kwargs": {},
    "policy_kwargs": {"net_arch": [8], "activation_fn": "tanh"},
    "clip_obs": 10.0,
    "epsilon": 1e-8,
}


@pytest.fixture(scope="module")
def weights():
    """A valid CartPole PPO state dict (net_arch [8]) and observation statistics."""
    model = tiny(PPO, "CartPole-v1")
    tensors = {f"policy.{k}": v.detach().clone() for k, v in model.policy.state_dict().items()}
    tensors["obs_rms.mean"] = th.zeros(4, dtype=th.float64)
    tensors["obs_rms.var"] = th.ones(4, dtype=th.float64)
    return tensors


def craft(path, weights, header=None, tensors=None, drop=(), raw=None, metadata=None):
    """Write a zoo-format file: HEADER updated by ``header`` (None values delete a key)."""
    fields = {**HEADER, **(header or {})}
    fields = {k: v for k, v in fields.items() if v is not None}
    data = {k: v for k, v in {**weights, **(tensors or {})}.items() if k not in drop}
    meta = {"advrl": raw if raw is not None else json.dumps(fields), **(metadata or {})}
    save_file(data, str(path), metadata=meta)
    return path


class NoModel(PPO):
    def __init__(self, *args, **kwargs):
        raise AssertionError("a model was built for a checkpoint that should be refused")


@pytest.fixture
def refuse(monkeypatch, tmp_path, weights):
    """``refuse(match, **craft_args)``: the crafted file is refused fast, with no model built."""
    monkeypatch.setitem(advrl.zoo.ALGOS, "PPO", NoModel)

    def check(match, **kwargs):
        path = craft(tmp_path / "bad.safetensors", weights, **kwargs)
        start = time.perf_counter()
        with pytest.raises(CheckpointError, match=match):
            load_file(path)
        assert time.perf_counter() - start < 2.0

    return check


def test_a_valid_crafted_file_loads(tmp_path, weights):
    victim = load_file(craft(tmp_path / "ok.safetensors", weights))
    assert victim.env_id == "CartPole-v1" and victim.obs_stats.clip_obs == 10.0


def test_module_prefixed_env_id_is_refused_without_importing_it(tmp_path, weights, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "advrl_evil_plugin.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "import gymnasium\n"
        "gymnasium.register('Evil-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = craft(tmp_path / "evil.safetensors", weights, {"env_id": "advrl_evil_plugin:Evil-v0"})
    with pytest.raises(CheckpointError, match=r"env_id 'advrl_evil_plugin:Evil-v0'.*module"):
        load_file(path)
    assert not marker.exists() and "advrl_evil_plugin" not in sys.modules


@pytest.mark.parametrize("env_id", ["NoSuchEnv-v0", "GymV26Environment-v0", "", 7])
def test_unregistered_or_shim_env_ids_are_refused(refuse, env_id):
    refuse("env_id", header={"env_id": env_id})


def test_a_user_allow_list_replaces_the_registry(tmp_path, weights):
    path = craft(tmp_path / "cp.safetensors", weights)
    with pytest.raises(CheckpointError, match=r"env_id 'CartPole-v1' is not in allowed_env_ids"):
        load_file(path, allowed_env_ids={"Pendulum-v1"})
    assert load_file(path, allowed_env_ids={"CartPole-v1"}).env_id == "CartPole-v1"
    with pytest.raises(TypeError, match="collection of ids"):
        load_file(path, allowed_env_ids="CartPole-v1")  # substring tests would pass "Pole"


def test_huge_declared_architecture_is_refused_before_any_allocation(refuse):
    refuse("net_arch", header={"policy_kwargs": {"net_arch": [30000, 30000]}})


def test_shapes_must_match_the_declared_architecture_before_the_model_is_built(refuse):
    # within the bounds, but not what the tensors hold: found on the meta device, no allocation
    refuse(
        r"do not fit.*mlp_extractor.policy_net.0.weight",
        header={"policy_kwargs": {"net_arch": [1024, 1024]}},
    )


BAD_HEADERS = [
    ({"algo": "HER"}, "algo 'HER'"),
    ({"algo": None}, "missing.*algo"),
    ({"extra": 1}, "unknown key 'extra'"),
    ({"policy_kwargs": {"net_arch": [8], "optimizer_class": "torch.optim.SGD"}}, "optimizer_class"),
    ({"policy_kwargs": {"activation_fn": "torch.nn.modules.activation.ReLU"}}, "activation_fn"),
    ({"policy_kwargs": {"activation_fn": 3}}, "activation_fn"),
    ({"policy_kwargs": {"net_arch": [8] * 100}}, "net_arch"),
    ({"policy_kwargs": {"net_arch": [0]}}, "net_arch"),
    ({"policy_kwargs": {"net_arch": [8.5]}}, "net_arch"),
    ({"policy_kwargs": {"net_arch": [True]}}, "net_arch"),
    ({"policy_kwargs": {"net_arch": "8"}}, "net_arch"),
    ({"policy_kwargs": {"net_arch": {"pi": [8], "evil": [8]}}}, "net_arch"),
    ({"policy_kwargs": {"log_std_init": 1e9}}, "log_std_init"),
    ({"policy_kwargs": {"ortho_init": "yes"}}, "ortho_init"),
    ({"policy_kwargs": [8]}, "policy_kwargs"),
    ({"clip_obs": 0.0}, "clip_obs"),
    ({"clip_obs": -1.0}, "clip_obs"),
    ({"clip_obs": "10"}, "clip_obs"),
    ({"clip_obs": None}, "clip_obs"),
    ({"epsilon": 0.0}, "epsilon"),
    ({"epsilon": -1e-8}, "epsilon"),
    ({"env_kwargs": {"nested": {"a": 1}}}, "env_kwargs"),
    ({"env_kwargs": {"xml_file": "/etc/passwd"}}, "env_kwargs"),
    ({"env_kwargs": {"env_id": "advrl_evil_plugin:Evil-v0"}}, "env_kwargs"),
    ({"env_kwargs": {f"k{i}": 1 for i in range(100)}}, "env_kwargs"),
    ({"env_kwargs": {"max_episode_steps": 10**30}}, "env_kwargs"),
    ({"env_kwargs": {"nope": 1}}, "env_kwargs"),  # CartPole takes no such argument
]


@pytest.mark.parametrize(("header", "match"), BAD_HEADERS)
def test_each_bad_header_field_is_named(refuse, header, match):
    refuse(match, header=header)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (json.dumps(HEADER).replace("10.0", "NaN"), "NaN"),
        (json.dumps(HEADER).replace("10.0", "Infinity"), "Infinity"),
        ('{"algo": "PPO", "algo": "DQN"}', "duplicate key 'algo'"),
        ("[1, 2]", "header must be a JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_malformed_header_json_is_refused(refuse, raw, match):
    refuse(match, raw=raw)


def test_unknown_metadata_entries_are_refused(refuse):
    refuse("metadata key 'loader'", metadata={"loader": "pickle"})


BAD_TENSORS = [
    ({"obs_rms.var": -th.ones(4, dtype=th.float64)}, (), "obs_rms.var.*negative"),
    ({"obs_rms.var": th.full((4,), float("inf"), dtype=th.float64)}, (), "obs_rms.var"),
    ({"obs_rms.mean": th.full((4,), float("nan"), dtype=th.float64)}, (), "obs_rms.mean"),
    ({"obs_rms.mean": th.zeros(5, dtype=th.float64)}, (), "must have one shape"),
    (
        {
            "obs_rms.mean": th.zeros(5, dtype=th.float64),
            "obs_rms.var": th.ones(5, dtype=th.float64),
        },
        (),
        r"obs_rms statistics have shape \(5,\).*\(4,\)",
    ),
    ({}, ("obs_rms.var",), "'obs_rms.mean' comes without"),
    ({"evil": th.zeros(1)}, (), "tensor 'evil'"),
    ({"policy.action_net.bias": th.zeros(2, dtype=th.int64)}, (), "policy.action_net.bias.*dtype"),
    ({"policy.action_net.bias": th.tensor([float("nan"), 0.0])}, (), "policy.action_net.bias"),
    ({"policy.action_net.bias": th.zeros(3)}, (), "do not fit.*policy.action_net.bias"),
    ({}, ("policy.value_net.bias",), "do not fit.*policy.value_net.bias"),
    ({"policy.extra.weight": th.zeros(2)}, (), "do not fit.*policy.extra.weight"),
]


@pytest.mark.parametrize(("tensors", "drop", "match"), BAD_TENSORS)
def test_each_bad_tensor_is_named(refuse, tensors, drop, match):
    refuse(match, tensors=tensors, drop=drop)


def test_stats_without_their_tensors_are_refused(refuse):
    refuse("clip_obs", drop=("obs_rms.mean", "obs_rms.var"))


def test_header_length_prefix_is_bounded_before_parsing(tmp_path):
    path = tmp_path / "prefix.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(CheckpointError, match=r"header of 1099511627776 bytes"):
        load_file(path)


def test_an_oversized_header_is_refused_before_parsing(refuse):
    refuse(r"header of \d+ bytes", metadata={"pad": "x" * (2 * ckpt_module.MAX_HEADER_BYTES)})


def test_oversized_files_and_tensor_counts_are_refused(tmp_path, weights, monkeypatch):
    big = craft(tmp_path / "big.safetensors", weights)
    with big.open("r+b") as f:
        f.truncate(ckpt_module.MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(CheckpointError, match="bytes; at most"):
        load_file(big)
    monkeypatch.setattr(schema, "MAX_PARAMETERS", 100)
    with pytest.raises(CheckpointError, match=r"parameters; at most 100"):
        load_file(craft(tmp_path / "many.safetensors", weights))


@pytest.mark.parametrize(("card", "match"), [("[1]", "card.*JSON object"), ("{bad", "card")])
def test_a_bad_card_is_a_clear_error(tmp_path, weights, card, match):
    path = craft(tmp_path / "carded.safetensors", weights)
    path.with_suffix(".json").write_text(card)
    with pytest.raises(CheckpointError, match=match):
        load_file(path)


def test_an_oversized_card_is_refused(tmp_path, weights):
    path = craft(tmp_path / "carded.safetensors", weights)
    with path.with_suffix(".json").open("wb") as f:
        f.truncate(ckpt_module.MAX_CARD_BYTES + 1)
    with pytest.raises(CheckpointError, match="card.*bytes; at most"):
        load_file(path)


def test_every_shipped_checkpoint_passes_the_checks():
    for name in advrl.zoo.names():
        path = advrl.zoo.ZOO_DIR / f"{name}.safetensors"
        ckpt = ckpt_module.load_checkpoint(path)
        assert ckpt.env_id in gym.registry
        # game players (advrl/SumoPlayer-v0, ...) are shipped without normaliser statistics
        assert ckpt.obs_stats is None or np.all(ckpt.obs_stats.var >= 0)
