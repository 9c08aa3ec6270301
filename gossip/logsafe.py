"""What a peer can do to our logs: at most one short printable line, at a bounded rate.

Ids, addresses and refusal details from peers end up in log lines; ids
learnt through membership reach the logs of nodes the sender never spoke to.
Two defences, applied where every line passes:

* :class:`OneLineFormatter` and :class:`JsonFormatter` (installed by
  ``gossip.cli.common.setup_logging``) cut every argument of a message to
  :data:`MAX_FIELD_CHARS` and the message to :data:`MAX_MESSAGE_CHARS`, and
  escape control characters (newlines, NUL, ANSI escapes, Unicode line
  separators and bidirectional overrides) as ``\\xNN`` / ``\\uNNNN``: a record
  is one line, whoever chose its text. A traceback is folded into that line.
* :class:`LogBudget` decides whether a warning about a peer is written: once
  per key per ``repeat_s`` (the keys an LRU with a cap) *and* within a budget
  shared by all keys, so a stream of new ids cannot write a line each.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Hashable, Mapping
from typing import Any

from gossip.lru import Lru

MAX_FIELD_CHARS = 160
"""Each argument of a log message (an id, an address, an error text) is cut to this length."""
MAX_MESSAGE_CHARS = 1000
"""A whole message is cut to this length (a detail built into the text is cut here)."""
MAX_TRACEBACK_CHARS = 8000
"""A traceback folded into its line is cut to this length."""

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters with control characters escaped: one line."""
    if len(text) > limit:
        text = f"{text[:limit]}...(+{len(text) - limit} chars)"
    return _UNPRINTABLE.sub(_escape, text)


def _cut(value: Any) -> Any:
    """A message argument, as text cut to MAX_FIELD_CHARS when its text is longer."""
    if isinstance(value, (int, float)):
        return value  # keeps %d / %.3f working
    text = value if isinstance(value, str) else str(value)
    if len(text) <= MAX_FIELD_CHARS:
        return value
    return f"{text[:MAX_FIELD_CHARS]}...(+{len(text) - MAX_FIELD_CHARS} chars)"


def safe_message(record: logging.LogRecord) -> str:
    """The record's message with every argument cut, then cut and escaped as a whole."""
    message = str(record.msg)
    args = record.args
    if isinstance(args, Mapping):
        message = message % {k: _cut(v) for k, v in args.items()}
    elif args:
        message = message % tuple(_cut(a) for a in args)
    return printable(message)


def _traceback(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    parts = []
    if record.exc_info:
        parts.append(formatter.formatException(record.exc_info))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(formatter.formatStack(record.stack_info))
    return printable("\n".join(parts), MAX_TRACEBACK_CHARS) if parts else ""


class OneLineFormatter(logging.Formatter):
    """A text formatter whose every record is exactly one printable line."""

    def format(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg, safe.args = safe_message(record), ()
        safe.exc_info, safe.exc_text, safe.stack_info = None, None, None
        line = super().format(safe)
        trace = _traceback(self, record)
        return f"{line} | {trace}" if trace else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, its message cut and escaped like the text lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": safe_message(record),
        }
        trace = _traceback(self, record)
        if trace:
            entry["exc"] = trace
        return json.dumps(entry)


class LogBudget:
    """Whether a line about a peer may be written: per key, and in total. Thread-safe.

    A key (peer, kind) is logged at most once per ``repeat_s``; the keys are
    kept in an LRU of ``max_keys``. All keys together spend one budget of
    ``burst`` lines, refilled at ``per_s`` lines per second: new ids cannot
    buy new lines. :meth:`allow` returns how many lines were held back since
    the last one written, so that line can say so.
    """

    def __init__(
        self, repeat_s: float, per_s: float = 1.0, burst: int = 20, max_keys: int = 1024
    ) -> None:
        self.repeat_s = repeat_s
        self.per_s = per_s
        self.burst = burst
        self._lock = threading.Lock()
        self._last: Lru[Hashable, float] = Lru(max_keys)
        self._tokens = float(burst)
        self._refilled: float | None = None
        self._held = 0
        self.suppressed = 0
        """Lines held back so far, by either rule."""

    def __len__(self) -> int:
        """Keys remembered now (at most ``max_keys``)."""
        with self._lock:
            return len(self._last)

    def allow(self, key: Hashable, now: float | None = None) -> int | None:
        """None: do not log. Otherwise the number of lines held back since the last one."""
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.repeat_s:
                self.suppressed += 1
                return None
            if self._refilled is not None:
                gained = max(now - self._refilled, 0.0) * self.per_s
                self._tokens = min(self._tokens + gained, float(self.burst))
            self._refilled = now
            if self._tokens < 1.0:
                self._held += 1
                self.suppressed += 1
                return None
            self._tokens -= 1.0
            self._last[key] = now
            held, self._held = self._held, 0
            return held


def held_note(held: int) -> str:
    """The suffix of a line written after others were held back by a :class:`LogBudget`."""
    return f" ({held} similar lines held back)" if held else ""
