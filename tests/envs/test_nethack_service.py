"""AnnotationService lifecycle: shared label files, env-owned services, hanging annotators."""

import threading
import time

import gymnasium as gym
import numpy as np
import pytest

import advrl  # noqa: F401
from advrl.envs.nethack.annotators import KeywordAnnotator
from advrl.envs.nethack.messages import MessageReward
from advrl.envs.nethack.service import AnnotationService, LabelStore
from tests.conftest import requires_nle

FINDS = [f"You find gem number {i}." for i in range(20)]
KILLS = [f"You kill newt number {i}!" for i in range(20)]


def test_two_services_on_one_label_file_keep_the_union(tmp_path):
    path = tmp_path / "labels.json"
    first, second = AnnotationService(store=path), AnnotationService(store=path)
    for a, b in zip(FINDS, KILLS, strict=True):
        first(a), second(b)
    assert first.wait_idle(timeout=10.0) and second.wait_idle(timeout=10.0)
    first.close()
    second.close()
    assert set(LabelStore(path).labels) == set(FINDS) | set(KILLS)
    assert set(second.store.labels) == set(FINDS) | set(KILLS)  # the merge is read back too


def test_concurrent_saves_from_two_stores_lose_nothing(tmp_path):
    path = tmp_path / "labels.json"
    stores = [LabelStore(path), LabelStore(path)]

    def write(k):
        for i in range(30):
            stores[k].update({f"store {k} message {i}": float(k)})
            stores[k].save()

    threads = [threading.Thread(target=write, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    labels = LabelStore(path).labels
    assert len(labels) == 60
    assert all(labels[f"store 1 message {i}"] == 1.0 for i in range(30))


def test_a_message_both_files_hold_keeps_this_stores_label(tmp_path):
    path = tmp_path / "labels.json"
    other = LabelStore(path)
    other.update({"shared": 0.0, "theirs": 1.0})
    other.save()
    mine = LabelStore(tmp_path / "elsewhere.json")
    mine.path = path
    mine.update({"shared": 1.0})
    mine.save()
    assert LabelStore(path).labels == {"shared": 1.0, "theirs": 1.0}


class Talk(gym.Env):
    observation_space = gym.spaces.Dict({"message": gym.spaces.Box(0, 255, (16,), np.uint8)})
    action_space = gym.spaces.Discrete(1)

    def reset(self, *, seed=None, options=None):
        return {"message": np.zeros(16, np.uint8)}, {}

    def step(self, action):
        msg = np.frombuffer(b"You find it.".ljust(16, b"\0"), np.uint8).copy()
        return {"message": msg}, 0.0, False, False, {}


def test_closing_an_env_that_owns_its_service_stops_it():
    baseline = threading.active_count()
    for _ in range(50):
        env = MessageReward(Talk(), AnnotationService(), owns_reward_fn=True)
        env.reset()
        env.step(0)
        env.close()
    assert threading.active_count() == baseline


def test_a_shared_service_outlives_the_envs_that_use_it():
    with AnnotationService() as service:
        envs = [MessageReward(Talk(), service) for _ in range(2)]
        envs[0].close()
        envs[1].reset()
        envs[1].step(0)
        assert service.wait_idle(timeout=5.0) and service("You find it.") == 1.0
    with pytest.raises(TypeError, match="owns_reward_fn must be a bool"):
        MessageReward(Talk(), KeywordAnnotator().label, owns_reward_fn="yes")


@requires_nle
def test_closing_a_nethack_env_stops_the_service_it_owns():
    service = AnnotationService()
    env = MessageReward(gym.make("advrl/NetHackScore-v0"), service, owns_reward_fn=True)
    env.reset(seed=0)
    env.step(1)
    env.close()
    assert not service.running


class Hangs:
    """An annotator whose calls block until released."""

    def __init__(self):
        self.release, self.calls = threading.Event(), 0

    def annotate(self, messages):
        self.calls += 1
        self.release.wait()
        return [1.0] * len(messages)


def annotator_threads():
    return [t for t in threading.enumerate() if t.name.startswith("advrl-annotate-call")]


def test_a_hanging_annotator_holds_one_thread_not_one_per_timeout():
    hangs = Hangs()
    service = AnnotationService(hangs, batch_size=1, timeout=0.05, max_attempts=1000)
    try:
        for i in range(5):
            service(f"You find thing {i}.")
        deadline = time.monotonic() + 10.0
        while service.errors < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert service.errors >= 10  # timeouts keep being reported...
        assert len(annotator_threads()) <= 1  # ...but no call thread piles up per timeout
        assert hangs.calls == 1  # and no new call starts while one still hangs
        hangs.release.set()
        assert service.wait_idle(timeout=10.0)
        assert service("You find thing 4.") == 1.0  # labelling resumes once it returns
    finally:
        hangs.release.set()
        service.close()


def test_close_does_not_wait_for_a_hanging_call():
    hangs = Hangs()
    service = AnnotationService(hangs, timeout=0.2)
    service("You find a gem.")
    while hangs.calls == 0:
        time.sleep(0.01)
    start = time.perf_counter()
    service.close()
    assert time.perf_counter() - start < 1.5 and not service.running
    hangs.release.set()


@pytest.mark.parametrize("timeout", [0, -1.0, float("inf"), float("nan")])
def test_service_timeout_must_be_finite_and_positive(timeout):
    with pytest.raises(ValueError, match="timeout must be a finite number > 0"):
        AnnotationService(timeout=timeout)
