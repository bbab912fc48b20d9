"""Message annotators: label NetHack messages helpful (1.0) or not (0.0).

ONI (Zheng et al. 2024, Sec. 4) asks an LLM served beside training whether each new
message is helpful for making progress. Two annotators share the :class:`Annotator`
protocol: :class:`KeywordAnnotator`, deterministic regex rules that ship as the default and
need nothing, and :class:`ChatAnnotator`, an adapter for any OpenAI-compatible chat
endpoint (urllib only; optional, never needed by the tests).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Annotator(Protocol):
    """Labels a batch of messages: one float in [0, 1] per message (1 = helpful)."""

    def annotate(self, messages: Sequence[str]) -> list[float]: ...


HELPFUL_PATTERNS: tuple[str, ...] = (
    r"\byou (kill|destroy)\b",
    r"welcome to experience level",
    r"\byou find\b",
    r"\byou see here\b",
    r"things that are here",
    r"\bstaircase (up|down)\b",
    r"\bthe door opens\b",
    r"there is an? (open door|doorway|broken door)",
    r"\bgold pieces?\b",
    r"\byou feel (better|much better|more)\b",
    r"\b(fountain|altar|sink|throne)\b",
    r"\byou hear\b",
    r"\b(oracle|delphi|centaur statue)",
    r"^[a-zA-Z$] - ",  # an item entering the inventory ("f - an uncursed scroll")
)
"""Messages that signal progress: finds, kills, levels, new features of the dungeon."""

UNHELPFUL_PATTERNS: tuple[str, ...] = (
    r"\byou can'?t\b",
    r"\bsolid stone\b",
    r"\bit'?s a wall\b",
    r"\bin what direction\b",
    r"\breally attack\b",
    r"\byou (miss|stop)\b",
    r"\bhungry\b",
    r"\bnothing happens\b",
    r"\bwelcome to nethack\b",
)
"""Messages that signal a wasted or harmful action; they veto a helpful match."""


class KeywordAnnotator:
    """Deterministic regex rules: helpful iff a helpful pattern matches and no unhelpful one.

    Args:
        helpful: regexes (case-insensitive) whose match marks a message helpful.
        unhelpful: regexes that veto a helpful match.

    Example:
        >>> KeywordAnnotator().annotate(["You kill the newt!", "It's solid stone.", ""])
        [1.0, 0.0, 0.0]
    """

    def __init__(
        self,
        helpful: Sequence[str] = HELPFUL_PATTERNS,
        unhelpful: Sequence[str] = UNHELPFUL_PATTERNS,
    ) -> None:
        compiled = []
        for group in (helpful, unhelpful):
            if isinstance(group, str):
                raise TypeError(f"patterns must be a sequence of regexes, got the string {group!r}")
            try:
                compiled.append(re.compile("|".join(f"(?:{p})" for p in group) or "(?!)", re.I))
            except re.error as err:
                raise ValueError(f"bad regex in {list(group)!r}: {err}") from err
        self._helpful, self._unhelpful = compiled
        self.helpful, self.unhelpful = tuple(helpful), tuple(unhelpful)

    def label(self, message: str) -> float:
        """The label of one message."""
        good = self._helpful.search(message) and not self._unhelpful.search(message)
        return 1.0 if good else 0.0

    def annotate(self, messages: Sequence[str]) -> list[float]:
        return [self.label(m) for m in messages]


Transport = Callable[[str, bytes, dict[str, str], float], bytes]
"""``transport(url, body, headers, timeout) -> response body``: how a request is sent."""


def urllib_transport(url: str, body: bytes, headers: dict[str, str], timeout: float) -> bytes:
    """POST ``body`` to ``url`` with the standard library."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


SYSTEM_PROMPT = (
    "You are helping to train an agent that plays NetHack. For each in-game message you "
    "are shown, say whether it indicates that the agent is making progress (exploring new "
    "places, finding or picking up items, defeating monsters, gaining experience, going "
    "deeper) -- 1 -- or not -- 0. Answer with a JSON list of 0/1 integers, one per message, "
    "in order, and nothing else."
)


class ChatAnnotator:
    """Ask an OpenAI-compatible ``/v1/chat/completions`` endpoint to label messages.

    Args:
        url: the endpoint, e.g. ``"http://localhost:8000/v1/chat/completions"``.
        model: the model name the server expects.
        api_key: sent as a bearer token when given.
        timeout: seconds per request.
        transport: how requests are sent (default: urllib); tests pass a fake one.

    Raises (from :meth:`annotate`):
        ValueError: the reply is not a JSON list of one 0/1 label per message.

    Example:
        >>> def fake(url, body, headers, timeout):
        ...     n = json.loads(body)["messages"][1]["content"].count("\\n") + 1
        ...     reply = {"choices": [{"message": {"content": json.dumps([1] * n)}}]}
        ...     return json.dumps(reply).encode()
        >>> ChatAnnotator("http://x/v1/chat/completions", "m", transport=fake).annotate(
        ...     ["You find a trap door.", "You kill it!"])
        [1.0, 1.0]
    """

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: Transport = urllib_transport,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {url!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.url, self.model, self.timeout, self.transport = url, model, float(timeout), transport
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def request_body(self, messages: Sequence[str]) -> bytes:
        """The chat request for one batch: numbered messages, one per line."""
        listing = "\n".join(f"{i + 1}. {json.dumps(m)}" for i, m in enumerate(messages))
        payload = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": listing},
            ],
        }
        return json.dumps(payload).encode()

    def annotate(self, messages: Sequence[str]) -> list[float]:
        if not messages:
            return []
        raw = self.transport(self.url, self.request_body(messages), self._headers, self.timeout)
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
            match = re.search(r"\[[^\[\]]*\]", content)
            labels = json.loads(match.group(0)) if match else None
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise ValueError(f"malformed chat reply {raw[:200]!r}: {err}") from err
        if (
            not isinstance(labels, list)
            or len(labels) != len(messages)
            or any(label not in (0, 1) for label in labels)
        ):
            raise ValueError(
                f"chat reply must hold a JSON list of {len(messages)} 0/1 labels, "
                f"got {content[:200]!r}"
            )
        return [float(label) for label in labels]
