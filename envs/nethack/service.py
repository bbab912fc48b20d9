"""Asynchronous message annotation: ONI's retrieval reward served beside training.

ONI (Zheng et al. 2024, Sec. 4.1) keeps a hash table message -> label; a message not in it
earns 0 and is queued for an LLM annotator that runs asynchronously, so the agent never
waits. :class:`LabelStore` is that table, persisted atomically as JSON so a restart loses
nothing; :class:`AnnotationService` is the reward function ``r_int(message)`` plus a worker
thread that drains the queue in batches. Annotator errors and timeouts are logged and the
batch is retried (up to ``max_attempts``); training never stops for them.

One service serves every env of a process (``DummyVecEnv``: pass the same service to each
``MessageReward`` and close it when training ends). It holds a thread, so it does not
pickle: with ``SubprocVecEnv`` build one per worker process, e.g. with
``MessageReward(env, AnnotationService(path), owns_reward_fn=True)`` so that closing the env
stops it. Services may share one label file: each save takes a lock on it and merges what
the others saved, so no label is lost and each service learns the others' labels.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from advrl.envs.nethack.annotators import Annotator, KeywordAnnotator
from advrl.zoo.checkpoint import atomic_write_bytes

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


class LabelStore:
    """Message -> label table, optionally persisted to a JSON file.

    The file is ``{"version": 1, "labels": {message: label}}``, written atomically (a
    reader sees the old file or the new one, never half of one). A save holds an exclusive
    lock on the file (``flock`` on a ``.NAME.lock`` beside it; NetHack runs on POSIX only)
    and merges the labels other stores saved meanwhile: the file keeps the union, and a
    message both hold keeps this store's label.

    Args:
        path: where labels are loaded from (if the file exists) and saved to; None keeps
            them in memory only.

    Raises:
        ValueError: the file exists but is not a valid label file (the message says why).

    Example:
        >>> store = LabelStore()
        >>> store.update({"You kill the newt!": 1.0})
        >>> store.get("You kill the newt!"), store.get("unseen")
        (1.0, None)
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.labels: dict[str, float] = {}
        if self.path is not None and self.path.exists():
            self.labels = self.load(self.path)

    @staticmethod
    def load(path: str | Path) -> dict[str, float]:
        """Read and validate a label file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"label file {str(path)!r} is not valid JSON: {err}") from err
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"label file {str(path)!r} must be a JSON object with version "
                f"{FORMAT_VERSION}, got {str(data)[:100]!r}"
            )
        labels = data.get("labels")
        if not isinstance(labels, dict):
            raise ValueError(f"label file {str(path)!r}: 'labels' must map messages to numbers")
        for message, label in labels.items():
            if isinstance(label, bool) or not isinstance(label, int | float):
                raise ValueError(
                    f"label file {str(path)!r}: label of {message!r} must be a number, "
                    f"got {label!r}"
                )
            if not math.isfinite(label):
                raise ValueError(f"label file {str(path)!r}: label of {message!r} is {label}")
        return {m: float(v) for m, v in labels.items()}

    def get(self, message: str) -> float | None:
        return self.labels.get(message)

    def update(self, labels: Mapping[str, float]) -> None:
        # One dict.update: readers on other threads see each key either absent or set.
        self.labels.update({m: float(v) for m, v in labels.items()})

    def save(self) -> None:
        """Merge with the file and write the union atomically (no-op without a path).

        Raises:
            ValueError: the file on disk is no longer a valid label file.
        """
        if self.path is None:
            return
        with _locked(self.path):
            saved = self.load(self.path) if self.path.exists() else {}
            # Labels other writers saved become ours too; one update keeps readers safe.
            self.labels.update({m: v for m, v in saved.items() if m not in self.labels})
            payload = {"version": FORMAT_VERSION, "labels": dict(self.labels)}
            atomic_write_bytes(self.path, json.dumps(payload, sort_keys=True).encode())

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, message: object) -> bool:
        return message in self.labels


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock shared by every process and thread saving ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(f".{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # each open() is its own lock: threads exclude too
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class AnnotationService:
    """Retrieval reward ``r_int(message)`` with a background thread labelling new messages.

    Calling the service never blocks: a labelled message returns its label, an unseen one
    returns 0 and is queued (once). The worker takes up to ``batch_size`` queued messages,
    asks the annotator (each call bounded by ``timeout`` seconds), stores the labels and
    saves the store. A failing or timed-out batch is logged and requeued, up to
    ``max_attempts`` tries per message; after that the message stays unlabelled (reward 0).

    A timed-out call cannot be killed (Python threads cannot be), so it is abandoned and no
    new call starts until it returns: each batch meanwhile counts as a timeout, and a
    hanging annotator holds one thread, not one per timeout. Close the service when done
    (or use it as a context manager, or let an env that owns it close it:
    ``MessageReward(..., owns_reward_fn=True)``); an unclosed service keeps its thread.

    Args:
        annotator: any :class:`~advrl.envs.nethack.annotators.Annotator` (default keywords).
        store: a :class:`LabelStore`, a path to one, or None (in memory).
        batch_size: most messages per annotator call.
        timeout: seconds an annotator call may take before it is abandoned (finite).
        max_attempts: tries per message before giving up on it.
        save_interval: least seconds between two saves of the store (it is always saved on
            :meth:`close`).

    Example:
        >>> with AnnotationService() as service:
        ...     first = service("You kill the newt!")  # unseen: 0, and queued
        ...     _ = service.wait_idle(timeout=5.0)
        ...     second = service("You kill the newt!")
        >>> first, second
        (0.0, 1.0)
    """

    def __init__(
        self,
        annotator: Annotator | None = None,
        store: LabelStore | str | Path | None = None,
        batch_size: int = 32,
        timeout: float = 60.0,
        max_attempts: int = 3,
        save_interval: float = 1.0,
    ) -> None:
        annotator = KeywordAnnotator() if annotator is None else annotator
        if not callable(getattr(annotator, "annotate", None)):
            raise TypeError(f"annotator must have an annotate(messages) method, got {annotator!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if not (isinstance(timeout, int | float) and 0 < timeout < math.inf):
            raise ValueError(f"timeout must be a finite number > 0 (seconds), got {timeout!r}")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        self.annotator = annotator
        self.store = store if isinstance(store, LabelStore) else LabelStore(store)
        self.batch_size, self.timeout = batch_size, float(timeout)
        self.max_attempts, self.save_interval = int(max_attempts), float(save_interval)
        self.errors = 0
        """Annotator calls that raised or timed out."""
        self.failed: set[str] = set()
        """Messages given up on after ``max_attempts`` failed tries."""
        self._queue: queue.Queue[str] = queue.Queue()
        self._pending: set[str] = set()  # queued or being labelled
        self._attempts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_save = 0.0
        self._dirty = False
        self._call: threading.Thread | None = None  # the annotator call in flight, if any
        self._thread = threading.Thread(target=self._run, name="advrl-annotator", daemon=True)
        self._thread.start()

    # -- the reward (called from env.step: must stay cheap and never wait) --------------------

    def __call__(self, message: str) -> float:
        label = self.store.labels.get(message)
        if label is not None:
            return label
        if message and message not in self._pending and message not in self.failed:
            with self._lock:
                if message not in self._pending:
                    self._pending.add(message)
                    self._queue.put_nowait(message)
        return 0.0

    @property
    def pending(self) -> int:
        """Messages queued or being labelled."""
        return len(self._pending)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending (for tests and shutdown); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._pending:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    @property
    def running(self) -> bool:
        """Whether the worker thread is alive (False once :meth:`close` returned)."""
        return self._thread.is_alive()

    def close(self) -> None:
        """Stop the worker and save the labels (idempotent).

        A call in flight gets up to ``timeout`` seconds to finish; one already abandoned is
        not waited for.
        """
        self._stop.set()
        self._thread.join(timeout=self.timeout + 1.0)
        self.store.save()
        self._dirty = False

    def __deepcopy__(self, memo: dict) -> AnnotationService:
        return self  # one live service shared by every copy (gymnasium deep-copies wrapper args)

    def __enter__(self) -> AnnotationService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the worker thread --------------------------------------------------------------------

    def _next_batch(self) -> list[str]:
        try:
            batch = [self._queue.get(timeout=0.05)]
        except queue.Empty:
            return []
        while len(batch) < self.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _annotate(self, batch: list[str]) -> list[float]:
        """Call the annotator in a helper thread so a hung call can be abandoned."""
        if self._call is not None and self._call.is_alive():
            # An abandoned call still runs: wait for it (not on close) rather than start
            # another thread beside it.
            deadline = time.monotonic() + self.timeout
            while self._call.is_alive() and time.monotonic() < deadline:
                if self._stop.is_set():
                    break
                self._call.join(0.01)
            if self._call.is_alive():
                raise TimeoutError(
                    f"annotator still busy with a call abandoned after {self.timeout} s"
                )
        result: dict[str, object] = {}

        def call() -> None:
            try:
                result["labels"] = self.annotator.annotate(batch)
            except Exception as err:  # any annotator failure is logged
                result["error"] = err

        self._call = threading.Thread(target=call, name="advrl-annotate-call", daemon=True)
        self._call.start()
        self._call.join(self.timeout)
        if self._call.is_alive():
            raise TimeoutError(f"annotator took more than {self.timeout} s")
        if "error" in result:
            raise result["error"]  # type: ignore[misc]  # an Exception, set by call()
        labels = result["labels"]
        if not isinstance(labels, list | tuple) or len(labels) != len(batch):
            raise ValueError(f"annotator returned {labels!r} for {len(batch)} messages")
        out = [float(v) for v in labels]
        if not all(math.isfinite(v) for v in out):
            raise ValueError(f"annotator returned non-finite labels {out!r}")
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._next_batch()
            if not batch:
                self._maybe_save(force=False)
                continue
            try:
                labels = self._annotate(batch)
            except Exception as err:  # log, retry later, keep training
                self.errors += 1
                logger.error("annotator failed on %d messages: %r", len(batch), err)
                self._retry(batch)
                continue
            self.store.update(dict(zip(batch, labels, strict=True)))
            self._dirty = True
            with self._lock:
                self._pending.difference_update(batch)
            self._maybe_save(force=False)

    def _retry(self, batch: list[str]) -> None:
        with self._lock:
            for message in batch:
                self._attempts[message] = self._attempts.get(message, 0) + 1
                if self._attempts[message] >= self.max_attempts:
                    logger.warning("giving up on %r after %d tries", message, self.max_attempts)
                    self.failed.add(message)
                    self._pending.discard(message)
                else:
                    self._queue.put_nowait(message)

    def _maybe_save(self, force: bool) -> None:
        now = time.monotonic()
        if self._dirty and (force or now - self._last_save >= self.save_interval):
            self._dirty = False
            try:
                self.store.save()
            except (OSError, ValueError) as err:  # a full disk or a broken file: keep training
                logger.error("could not save labels to %s: %r", self.store.path, err)
            self._last_save = now
