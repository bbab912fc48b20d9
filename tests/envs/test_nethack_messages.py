"""ONI message rewards: the 1/N^beta decay, annotators, the asynchronous annotation service."""

import http.server
import json
import logging
import threading
import time

import gymnasium as gym
import numpy as np
import pytest

import advrl  # noqa: F401
from advrl.envs.nethack.annotators import ChatAnnotator, KeywordAnnotator
from advrl.envs.nethack.messages import MessageReward, decode_message
from advrl.envs.nethack.service import AnnotationService, LabelStore
from tests.conftest import requires_nle


def as_bytes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode().ljust(256, b"\0"), np.uint8).copy()


class Script(gym.Env):
    """Shows a scripted message per step; the extrinsic reward is the step index."""

    observation_space = gym.spaces.Dict({"message": gym.spaces.Box(0, 255, (256,), np.uint8)})
    action_space = gym.spaces.Discrete(2)

    def __init__(self, messages):
        self.messages, self.t = messages, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return {"message": as_bytes("")}, {}

    def step(self, action):
        msg = self.messages[self.t % len(self.messages)]
        self.t += 1
        return {"message": as_bytes(msg)}, float(self.t), False, False, {}


def test_decay_is_one_over_count_to_the_beta():
    labels = {"good": 2.0, "other": 0.5}
    env = MessageReward(Script(["good", "good", "", "other", "good"]), labels.get,
                        c_ext=0.5, c_int=3.0, beta=3.0)  # fmt: skip
    env.reset()
    expected_int = [2.0, 2.0 / 8, 0.0, 0.5, 2.0 / 27]  # N = 1, 2, -, 1, 3
    for t, r_int in enumerate(expected_int, start=1):
        _, r, _, _, info = env.step(0)
        assert info["reward_int"] == pytest.approx(r_int)
        assert r == pytest.approx(0.5 * t + 3.0 * r_int) == info["reward_proxy"]
        assert info["reward_true"] == info["reward_ext"] == t
    assert env.counts == {"good": 3, "other": 1}
    env.reset()  # counts are per episode
    assert env.step(0)[-1]["reward_int"] == pytest.approx(2.0)


def test_beta_zero_never_decays_and_bad_arguments_are_errors():
    env = MessageReward(Script(["good"]), lambda m: 1.0, c_ext=0.0, beta=0.0)
    env.reset()
    assert [env.step(0)[1] for _ in range(3)] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="beta must be >= 0, got -1"):
        MessageReward(Script(["x"]), lambda m: 1.0, beta=-1)
    with pytest.raises(ValueError, match="c_int must be a finite number, got nan"):
        MessageReward(Script(["x"]), lambda m: 1.0, c_int=float("nan"))
    with pytest.raises(TypeError, match="reward_fn must be callable"):
        MessageReward(Script(["x"]), {"x": 1.0})
    with pytest.raises(ValueError, match="needs a Dict observation space with key 'message'"):
        MessageReward(gym.make("CartPole-v1"), lambda m: 1.0)


@requires_nle
def test_message_reward_on_nethack_keeps_the_task_truth():
    env = MessageReward(gym.make("advrl/NetHackOracle-v0"), KeywordAnnotator().label, c_int=2.0)
    env.reset(seed=0)
    seen = set()
    for i in range(100):
        obs, r, terminated, truncated, info = env.step(i % 8 + 1)
        assert info["message_text"] == decode_message(obs["message"])
        assert r == pytest.approx(info["reward_ext"] + 2.0 * info["reward_int"])
        assert "reward_true" in info and 0.0 <= info["reward_int"] <= 1.0
        seen.add(info["message_text"])
        if terminated or truncated:
            env.reset()
    assert len(seen) > 1
    env.close()


def test_keyword_annotator_rules():
    annotate = KeywordAnnotator().annotate
    helpful = ["You kill the jackal!", "You see here a dagger.", "f - a scroll."]
    unhelpful = ["You can't find gold pieces here.", "It's a wall.", "You miss it."]
    assert annotate(helpful) == [1.0] * 3 and annotate(unhelpful) == [0.0] * 3
    custom = KeywordAnnotator(helpful=[r"\bhello\b"], unhelpful=[])
    assert custom.annotate(["hello", "bye"]) == [1.0, 0.0]
    with pytest.raises(ValueError, match="bad regex"):
        KeywordAnnotator(helpful=["("])


def chat_reply(content: str) -> bytes:
    return json.dumps({"choices": [{"message": {"content": content}}]}).encode()


def test_chat_annotator_request_and_reply_parsing():
    sent = {}

    def transport(url, body, headers, timeout):
        sent.update(url=url, body=json.loads(body), headers=headers, timeout=timeout)
        return chat_reply("Labels: [1, 0]")

    chat = ChatAnnotator("http://localhost:1/v1/chat/completions", "tiny", api_key="k",
                         timeout=3.0, transport=transport)  # fmt: skip
    assert chat.annotate(["You find a gem.", 'Say "hi"']) == [1.0, 0.0]
    assert sent["body"]["model"] == "tiny" and sent["timeout"] == 3.0
    assert sent["headers"]["Authorization"] == "Bearer k"
    assert sent["body"]["messages"][1]["content"] == '1. "You find a gem."\n2. "Say \\"hi\\""'
    for reply, match in [
        (b"not json", "malformed chat reply"),
        (chat_reply("[1]"), "JSON list of 2 0/1 labels"),
        (chat_reply("[1, 7]"), "JSON list of 2 0/1 labels"),
        (chat_reply("no list here"), "JSON list of 2 0/1 labels"),
    ]:
        bad = ChatAnnotator("http://x/v1", "m", transport=lambda *a, reply=reply: reply)
        with pytest.raises(ValueError, match=match):
            bad.annotate(["a", "b"])
    with pytest.raises(ValueError, match="url must start with http"):
        ChatAnnotator("localhost:8000", "m")


class CountingAnnotator(KeywordAnnotator):
    def __init__(self, delay=0.0):
        super().__init__()
        self.delay, self.calls, self.seen = delay, 0, []

    def annotate(self, messages):
        time.sleep(self.delay)
        self.calls += 1
        self.seen.extend(messages)
        return super().annotate(messages)


MESSAGES = [f"You kill the newt number {i}!" for i in range(40)] + [
    f"You can't go there ({i})." for i in range(40)
]


def test_retrieval_unseen_earns_zero_is_queued_once_and_is_labelled_eventually():
    annotator = CountingAnnotator(delay=0.01)
    with AnnotationService(annotator, batch_size=8) as service:
        assert [service(m) for m in MESSAGES] == [0.0] * len(MESSAGES)
        for m in MESSAGES:
            service(m)  # asking again does not queue twice
        assert service("") == 0.0
        assert service.wait_idle(timeout=10.0)
        assert sorted(annotator.seen) == sorted(MESSAGES)
        assert annotator.calls >= len(MESSAGES) // 8
        assert [service(m) for m in MESSAGES] == [1.0] * 40 + [0.0] * 40


def step_times(service, n=150):
    env = MessageReward(Script([f"You find thing {i}." for i in range(10_000)]), service)
    env.reset()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        env.step(0)
        times.append(time.perf_counter() - start)
    return np.array(times)


def test_step_latency_does_not_depend_on_annotator_speed():
    with AnnotationService(CountingAnnotator(delay=0.0)) as fast:
        fast_times = step_times(fast)
    slow_annotator = CountingAnnotator(delay=0.5)  # 0.5 s per batch of labels
    with AnnotationService(slow_annotator, batch_size=4, timeout=5.0) as slow:
        slow_times = step_times(slow)
        assert slow.pending > 100  # the annotator is far behind the agent...
    # ...yet no step waited for it: every step well under one annotator call (0.5 s; the
    # slack is for a loaded CI machine), and typical steps as fast as with an instant one
    assert slow_times.max() < 0.25
    assert np.median(slow_times) < 5 * np.median(fast_times) + 1e-4


def test_labels_are_persisted_atomically_and_reloaded_on_restart(tmp_path):
    path = tmp_path / "labels.json"
    with AnnotationService(CountingAnnotator(), store=path) as service:
        for m in MESSAGES:
            service(m)
        assert service.wait_idle(timeout=10.0)
    assert json.loads(path.read_text())["version"] == 1
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind

    class Refuses:
        def annotate(self, messages):
            raise AssertionError("a reloaded label must not be annotated again")

    with AnnotationService(Refuses(), store=path) as again:
        assert len(again.store) == len(MESSAGES)
        assert [again(m) for m in MESSAGES] == [1.0] * 40 + [0.0] * 40
        assert again.pending == 0


class Flaky:
    def __init__(self, failures, hang=0.0):
        self.failures, self.hang, self.calls = failures, hang, 0

    def annotate(self, messages):
        self.calls += 1
        if self.calls <= self.failures:
            if self.hang:
                time.sleep(self.hang)
            else:
                raise ConnectionError("annotator server down")
        return [1.0] * len(messages)


def test_annotator_errors_are_logged_retried_and_training_continues(caplog):
    caplog.set_level(logging.WARNING, logger="advrl.envs.nethack.service")
    with AnnotationService(Flaky(failures=2), max_attempts=3) as service:
        assert service("You find a gem.") == 0.0
        assert service.wait_idle(timeout=10.0)
        assert service("You find a gem.") == 1.0  # the third try succeeded
        assert service.errors == 2
    assert "annotator server down" in caplog.text
    with AnnotationService(Flaky(failures=10), max_attempts=2) as service:
        assert service("You find a gem.") == 0.0
        assert service.wait_idle(timeout=10.0)
        assert service.failed == {"You find a gem."} and service("You find a gem.") == 0.0
    assert "giving up on 'You find a gem.' after 2 tries" in caplog.text


def test_annotator_timeouts_are_logged_and_abandoned(caplog):
    caplog.set_level(logging.ERROR, logger="advrl.envs.nethack.service")
    hung = Flaky(failures=1, hang=0.5)
    with AnnotationService(hung, timeout=0.1, max_attempts=20) as service:
        start = time.perf_counter()
        service("You find a gem.")
        assert service.wait_idle(timeout=5.0)
        # abandoned after 0.1 s; retried as soon as the hung call returned (no second call
        # thread beside it), well before the 20 tries ran out
        assert time.perf_counter() - start < 1.5
        assert service("You find a gem.") == 1.0 and service.errors >= 1 and hung.calls == 2
    assert "TimeoutError" in caplog.text
    assert threading.active_count() < 50


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "is not valid JSON"),
        ('["a list"]', "must be a JSON object with version 1"),
        ('{"version": 2, "labels": {}}', "must be a JSON object with version 1"),
        ('{"version": 1, "labels": [1]}', "'labels' must map messages to numbers"),
        ('{"version": 1, "labels": {"m": "yes"}}', "label of 'm' must be a number, got 'yes'"),
        ('{"version": 1, "labels": {"m": true}}', "label of 'm' must be a number"),
    ],
)
def test_malformed_label_files_are_clear_errors(tmp_path, content, match):
    path = tmp_path / "labels.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        LabelStore(path)
    with pytest.raises(ValueError, match=str(path)):
        AnnotationService(store=path)


# -- ChatAnnotator against a fake endpoint on localhost ------------------------------------


class FakeEndpoint(http.server.BaseHTTPRequestHandler):
    """Answers each POST with ``server.reply(handler)``; records request headers."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append(dict(self.headers))
        self.server.reply(self)

    def do_GET(self):  # where a followed redirect would land
        self.server.seen.append(dict(self.headers))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        """Keep the test output quiet (the default logs every request to stderr)."""


@pytest.fixture
def endpoint():
    """``endpoint(reply) -> url`` of a local HTTP server; ``endpoint.seen``: request headers."""
    servers = []

    def serve(reply):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeEndpoint)
        server.reply, server.seen = reply, []
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        serve.seen = server.seen
        return f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def send(handler, body, status=200, headers=(), length=True):
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    if length:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def test_chat_annotator_over_real_http(endpoint):
    url = endpoint(lambda h: send(h, chat_reply("[1, 0]")))
    chat = ChatAnnotator(url, "m", api_key="k", timeout=5.0)
    assert chat.annotate(["You find a gem.", "It's a wall."]) == [1.0, 0.0]
    assert endpoint.seen[0]["Authorization"] == "Bearer k"


def test_an_api_key_over_plain_http_needs_an_explicit_yes():
    with pytest.raises(ValueError, match=r"api_key over plain http://.*allow_insecure_http=True"):
        ChatAnnotator("http://llm.example.com/v1/chat/completions", "m", api_key="k")
    ChatAnnotator("http://llm.example.com/v1", "m", api_key="k", allow_insecure_http=True)
    ChatAnnotator("https://llm.example.com/v1", "m", api_key="k")
    ChatAnnotator("http://llm.example.com/v1", "m")  # no key, nothing to leak
    ChatAnnotator("http://[::1]:8000/v1", "m", api_key="k")  # loopback never leaves the host


@pytest.mark.parametrize("timeout", [0, -1, 1e9, float("inf"), float("nan")])
def test_chat_timeout_is_bounded(timeout):
    with pytest.raises(ValueError, match="timeout must be a finite number of seconds in"):
        ChatAnnotator("https://x/v1", "m", timeout=timeout)


@pytest.mark.parametrize("length", [True, False])
def test_an_oversized_reply_is_refused(endpoint, length):
    url = endpoint(lambda h: send(h, b" " * 5000 + chat_reply("[1]"), length=length))
    chat = ChatAnnotator(url, "m", max_reply_bytes=1000, timeout=5.0)
    with pytest.raises(ValueError, match="reply exceeds 1000 bytes"):
        chat.annotate(["a"])
    fake = ChatAnnotator("https://x/v1", "m", max_reply_bytes=1000,
                         transport=lambda *a: b" " * 5000 + chat_reply("[1]"))  # fmt: skip
    with pytest.raises(ValueError, match="reply exceeds 1000 bytes"):
        fake.annotate(["a"])


def test_a_dripping_reply_is_cut_at_the_timeout(endpoint):
    def drip(handler):
        handler.send_response(200)
        handler.end_headers()
        for _ in range(40):  # 4 s in all, a byte at a time: each read beats the socket timeout
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.1)

    chat = ChatAnnotator(endpoint(drip), "m", timeout=0.5)
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match="0.5 s"):
        chat.annotate(["a"])
    assert time.perf_counter() - start < 2.0


def test_redirects_are_not_followed_so_the_key_stays_put(endpoint):
    target = endpoint(lambda h: send(h, chat_reply("[1]")))
    seen_by_target = endpoint.seen
    url = endpoint(lambda h: send(h, b"", status=302, headers=[("Location", target)]))
    chat = ChatAnnotator(url, "m", api_key="secret", timeout=5.0)
    with pytest.raises(ValueError, match="redirect"):
        chat.annotate(["a"])
    assert seen_by_target == []


@pytest.mark.parametrize(
    "content",
    [
        "no list at all",  # zero label lists
        "[1, 0] or, on reflection, [0, 1]",  # two
        "[1, 0, 1]",  # wrong length
        "[[1, 0]]",  # a list of lists
        "Message [2] is noise: [1, 0]",  # another bracketed list beside the labels
        "[true, false]",  # bools are not 0/1 labels
        "[1, 2]",
    ],
)
def test_a_reply_needs_exactly_one_label_list_of_the_right_length(content):
    chat = ChatAnnotator("https://x/v1", "m", transport=lambda *a: chat_reply(content))
    with pytest.raises(ValueError, match="exactly one JSON list of 2 0/1 labels"):
        chat.annotate(["a", "b"])
    fenced = ChatAnnotator("https://x/v1", "m", transport=lambda *a: chat_reply("```\n[0, 1]\n```"))
    assert fenced.annotate(["a", "b"]) == [0.0, 1.0]
