"""Log lines stay one short printable line, and a stream of new ids cannot buy new lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from gossip.cli.common import setup_logging
from gossip.logsafe import MAX_MESSAGE_CHARS, LogBudget, printable

FORGED = "evil\n00:00:00.000 WARNING FAKE LINE\x00\x1b[31mred\u2028more\u202e"


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:], root.level = handlers, level


def lines_of(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_peer_text_cannot_forge_or_colour_a_line(
    fmt: str, root_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 3: newline, NUL, ANSI and Unicode separators are escaped, in both formats."""
    setup_logging(fmt, "info")
    log = logging.getLogger("gossip.test")
    log.warning("member %s (%s) joined", FORGED, "addr\r\n:1")
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        log.exception("node %s: loop failed", FORGED)
    lines = lines_of(capsys.readouterr().err)
    assert len(lines) == 2, lines
    for line in lines:
        assert line.isprintable(), repr(line)
    text = lines[0] if fmt == "text" else json.loads(lines[0])["msg"]
    assert "\\n00:00:00.000 WARNING FAKE LINE\\x00\\x1b[31mred\\u2028" in text
    assert "ValueError" in lines[1]


def test_long_fields_are_cut(root_restored: None, capsys: pytest.CaptureFixture[str]) -> None:
    """Case 4: a 1 MB id gives a short line, not a 1 MB one."""
    setup_logging("text", "info")
    huge = "i" * (1 << 20)
    logging.getLogger("gossip.test").warning("exchange with %s refused", huge)
    logging.getLogger("gossip.test").warning(f"built in: {huge}")
    lines = lines_of(capsys.readouterr().err)
    assert len(lines) == 2
    assert all(len(line) < MAX_MESSAGE_CHARS + 100 for line in lines)
    assert "chars)" in lines[0] and "refused" in lines[0]


def test_printable_keeps_ordinary_text() -> None:
    assert printable("node-1 at 10.0.0.1:50051 (état)") == "node-1 at 10.0.0.1:50051 (état)"


def test_budget_is_shared_by_every_key() -> None:
    """Case 4: new ids do not dodge the limit; a repeated key waits for repeat_s."""
    budget = LogBudget(repeat_s=10.0, per_s=1.0, burst=5, max_keys=100)
    allowed = [budget.allow(("peer", i), now=0.0) for i in range(10_000)]
    assert sum(a is not None for a in allowed) == 5
    assert len(budget) <= 100
    assert budget.allow(("peer", 0), now=5.0) is None  # within repeat_s of its last line
    held = budget.allow(("peer", "new"), now=5.0)
    assert held == 10_000 - 5  # the next line says how many were held back
    assert budget.allow(("peer", 0), now=20.0) == 0  # a repeat is not news: not counted
