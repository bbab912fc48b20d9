"""Value types of the ``advrl`` command's flags, and tyro's parse errors as one line.

tyro (https://brentyi.github.io/tyro/) builds the command line from the typed dataclasses in
:mod:`advrl.cli_args`. The types here add what a bare ``int`` or ``list[float]`` does not
say: counts (``Positive``, ``Count``), finite numbers (``Finite``: ``nan`` and ``inf`` are
typos here), lists that need at least one value (as argparse's ``nargs="+"``), choices, and
optional values that take no ``None`` token. Each is a ``tyro.constructors``
``PrimitiveConstructorSpec``, tyro's public hook for parsing a field's strings.

:func:`one_line_errors` turns every parse error into :class:`UsageError` with the message
argparse would print, so every advrl error reads ``advrl: error: ...`` on one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
import typing
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import tyro
from tyro.constructors import PrimitiveConstructorSpec


class UsageError(ValueError):
    """A flag the command line refuses; its message reads as argparse's.

    Attributes:
        unrecognized: the tokens no flag took, when that is the error.
    """

    def __init__(self, message: str, unrecognized: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.unrecognized = unrecognized


def integer(low: int | None = None) -> Callable[[str], int]:
    """An integer, ``>= low`` when ``low`` is given."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
        if low is not None and value < low:
            raise ValueError(f"must be >= {low}, got {value}")
        return value

    return parse


def finite(text: str) -> float:
    """A finite number (``nan`` and ``inf`` are typos here)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {text!r}")
    return value


def choice(allowed: tuple[str, ...]) -> Callable[[str], str]:
    """One of ``allowed``."""

    def parse(text: str) -> str:
        if text not in allowed:
            listed = ", ".join(repr(a) for a in allowed)
            raise ValueError(f"invalid choice: {text!r} (choose from {listed})")
        return text

    return parse


def _spec(parse: Callable[[str], Any], metavar: str, *, repeated: bool, optional: bool):
    """A constructor spec: one value, or one or more (``repeated``). ``optional``: the default
    may be ``None``, which no token spells (tyro's own ``X | None`` takes a ``None`` token)."""

    def from_strings(texts: list[str]) -> Any:
        if repeated and not texts:  # tyro's lists take zero values; argparse's "+" did not
            raise ValueError("expected at least one value")
        values = [parse(t) for t in texts]
        return values if repeated else values[0]

    def is_instance(value: Any) -> bool:
        return isinstance(value, list) if repeated else value is not None or optional

    def to_strings(value: Any) -> list[str]:
        return [str(v) for v in value] if repeated else [str(value)]

    return PrimitiveConstructorSpec(
        nargs="*" if repeated else 1,
        metavar=f"{metavar} [{metavar} ...]" if repeated else metavar,
        instance_from_str=from_strings,
        is_instance=is_instance,
        str_from_instance=to_strings,
    )


def one(parse: Callable[[str], Any], metavar: str, *, optional: bool = False):
    """One value, parsed by ``parse``; ``optional``: the default may be ``None``."""
    return _spec(parse, metavar, repeated=False, optional=optional)


def many(parse: Callable[[str], Any], metavar: str):
    """One or more values, each parsed by ``parse``."""
    return _spec(parse, metavar, repeated=True, optional=False)


def default_is(text: str | Callable[[str], str]) -> Any:
    """Help's default for a flag whose default is a rule, not a value ("all cores").

    ``text`` may be a function of the formatted default, for a flag whose default differs
    between commands.
    """
    if callable(text):
        return tyro.conf.arg(help_behavior_hint=lambda default: f"(default: {text(default)})")
    return tyro.conf.arg(help_behavior_hint=f"(default: {text})")


Positive = Annotated[int, one(integer(1), "INT")]
Count = Annotated[int, one(integer(0), "INT")]
Finite = Annotated[float, one(finite, "FLOAT")]
OptionalPositive = Annotated[int | None, one(integer(1), "INT", optional=True)]
OptionalFinite = Annotated[float | None, one(finite, "FLOAT", optional=True)]
Counts = Annotated[list[int], many(integer(0), "INT")]
Finites = Annotated[list[float], many(finite, "FLOAT")]
Names = Annotated[list[str], many(str, "STR")]


def _message(event: Any) -> str | None:
    """argparse's wording for a tyro parse-error event; ``None`` for one we do not know."""
    from tyro import _errors as events

    def flag(argument: Any) -> str:
        return "/".join(argument.lowered.name_or_flags) or argument.display_name()

    if isinstance(event, events.InvalidChoice):
        listed = ", ".join(repr(c) for c in event.choices)
        return (
            f"argument {flag(event.argument)}: invalid choice: {event.value!r} "
            f"(choose from {listed})"
        )
    if isinstance(event, events.UnrecognizedArgs):
        return f"unrecognized arguments: {' '.join(event.tokens)}"
    if isinstance(event, events.InstantiationFailure):
        where = f"argument {flag(event.argument)}: " if event.argument is not None else ""
        return where + event.message
    if isinstance(event, events.BadValue):
        return f"argument {flag(event.argument)}: expected one argument"
    if isinstance(event, events.MissingSubcommand):
        listed = ", ".join(repr(n) for n in event.subcommand_spec.parser_from_name)
        return f"the following arguments are required: command (choose from {listed})"
    if isinstance(event, events.MissingArgs):
        names = ", ".join(flag(a.arg) for a in event.missing_arguments)
        return f"the following arguments are required: {names}"
    return None


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Within it, a tyro parse error raises :class:`UsageError` instead of printing a box.

    tyro reports each error through ``tyro._errors.on_parse_error`` (tyro >= 1.0.14). The
    hook is experimental there, so where it is missing or an event is new to us, tyro's own
    message is shown instead: still exit 2, still before any work.
    """
    try:
        from tyro._errors import on_parse_error
    except ImportError:
        yield
        return

    def hook(event: Any) -> None:
        message = _message(event)
        if message is not None:
            raise UsageError(message, tuple(getattr(event, "tokens", ())))

    with on_parse_error(hook):
        yield


def flags_of(cls: type) -> list[str]:
    """Every flag of a flags dataclass, those of its nested dataclasses included."""
    hints = typing.get_type_hints(cls, include_extras=True)
    flags = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            flags += flags_of(hint)
            continue
        flags.append("--" + f.name.replace("_", "-"))
        if hint is bool:
            flags.append("--no-" + f.name.replace("_", "-"))
    return flags


def did_you_mean(err: UsageError, flags: list[str]) -> UsageError:
    """``err``, naming the flag each unrecognized one resembles.

    argparse took a flag's prefix (``--epi`` for ``--episodes``); tyro does not, so say which
    flag was meant rather than run something else.
    """
    hints = []
    for token in err.unrecognized:
        name = token.split("=")[0]
        if not name.startswith("-"):
            continue
        close = [f for f in flags if f.startswith(name)] or difflib.get_close_matches(
            name, flags, n=1
        )
        if close:
            hints.append(f"{name}: did you mean {' or '.join(close)}?")
    return UsageError(f"{err}; " + "; ".join(hints), err.unrecognized) if hints else err
