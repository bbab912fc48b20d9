"""Every ``advrl ...`` command line in the README, BENCHMARKS.md and docs/ parses (dry: nothing
runs), so the documentation cannot drift from the command line."""

import re
import shlex
from pathlib import Path

import pytest

from advrl.cli import COMMANDS, parse

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(advrl (?:list|bench|certify)\b[^`]*)`")
# Prose names a group of commands ("the `advrl bench` commands"): no command line.
GROUPS = {"advrl " + name.split()[0] for name in COMMANDS if " " in name}


def command_lines(text: str) -> list[str]:
    """The ``advrl`` command lines of a Markdown text: in code blocks (a trailing ``\\``
    continues a line; ``# comments`` and ``$`` prompts dropped; each command of an ``&&``
    chain) and in inline code spans (which may wrap across lines)."""
    found = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            for command in re.split(r"&&|;|\|", line):
                words = shlex.split(command.removeprefix("$ ").strip(), comments=True)
                if words[:1] == ["advrl"]:
                    found.append(shlex.join(words))
    outside = FENCE.sub("", text)
    spans = [" ".join(span.split()) for span in INLINE.findall(outside)]
    return found + [span for span in spans if span not in GROUPS]


def documented() -> list[tuple[str, str]]:
    return [(p.name, line) for p in DOCS for line in command_lines(p.read_text())]


def test_the_extraction_finds_block_chain_wrapped_and_inline_commands():
    text = (
        "```bash\npip install x && advrl bench quick\n"
        "advrl bench attacks --envs A \\\n    --eps 0.1 [--backend ray]   # note\n```\n"
        "Then `advrl bench cheap-talk --methods\nact-control --seeds 0`, and `advrl.zoo`.\n"
        "The `advrl bench` commands resume.\n"
    )
    assert command_lines(text) == [
        "advrl bench quick",
        "advrl bench attacks --envs A --eps 0.1 '[--backend' 'ray]'",
        "advrl bench cheap-talk --methods act-control --seeds 0",
    ]


def test_the_docs_show_every_command():
    lines = [line for _, line in documented()]
    assert len(lines) >= 20
    for command in ("list", "certify", "bench quick", "bench attacks", "bench leaderboard",
                    "bench smoothing", "bench robustness", "bench hacking", "bench cheap-talk",
                    "bench overoptimization", "bench reward-distances", "bench constrained",
                    "bench reward-robustness", "bench critic-lipschitz", "bench imitation",
                    "bench adversarial-policies", "bench targeted"):  # fmt: skip
        assert any(line.startswith(f"advrl {command}") for line in lines), command


@pytest.mark.parametrize(("doc", "line"), documented(), ids=lambda x: x)
def test_a_documented_command_line_parses(doc, line):
    # An optional part, shown as `[--backend ray]`, is parsed given.
    argv = [word.strip("[]") for word in shlex.split(line)[1:]]
    parse(argv)  # raises UsageError (naming the flag) where the docs and the CLI disagree
