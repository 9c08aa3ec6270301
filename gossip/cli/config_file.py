"""``--config FILE``: gossip-node flags from a TOML file; flags on the command line win.

The keys are the long flag names, with dashes or underscores
(``gossip-interval = 0.2`` or ``gossip_interval = 0.2``); a ``[node]`` table
may hold them instead of the top level. Values are TOML strings, numbers,
booleans, or (for ``peers``) a list of addresses:

    # node.toml
    dataset = "digits"
    peers = ["host2:50051", "host3:50051"]
    gossip-interval = 0.2
    metrics-port = 9100

Each value goes through the flag's own type and choices, and becomes the
parser's default; then the command line is parsed again, so a flag given
there replaces the file's value. An unknown key, a value of the wrong type or
an unreadable file is one :class:`~gossip.errors.UsageError` line naming the
file and key. :func:`to_toml` writes the effective configuration back in the
same form (``gossip-node --print-config``), so its output is a valid file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from gossip.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_FLAGS = ("config", "print_config")
"""Flags about the config file itself: not allowed inside one, not printed."""


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Key (long flag without dashes, dashes as underscores) to action."""
    options: dict[str, argparse.Action] = {}
    for action in parser._actions:  # argparse offers no public list of actions
        for flag in action.option_strings:
            if flag.startswith("--") and action.dest not in ("help", *CONFIG_FLAGS):
                options[flag[2:].replace("-", "_")] = action
    return options


def read(path: str) -> dict[str, Any]:
    """The key/value pairs of a TOML file (top level, or its ``[node]`` table)."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise UsageError(f"config file {path}: cannot read it: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path}: not valid TOML: {exc}") from exc
    node = data.get("node")
    if isinstance(node, dict):
        rest = sorted(k for k in data if k != "node")
        if rest:
            raise UsageError(
                f"config file {path}: put {rest[0]!r} inside [node] or drop the [node] table"
            )
        return node
    return data


def _convert(path: str, key: str, action: argparse.Action, value: Any) -> Any:
    """A TOML value as the flag would have parsed it; UsageError naming the key when it won't."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise UsageError(f"config file {path}: {key!r} must be true or false, got {value!r}")
        return value
    if isinstance(value, list):
        if not all(isinstance(v, (str, int, float)) for v in value):
            raise UsageError(f"config file {path}: {key!r} must be a list of plain values")
        text = ",".join(str(v) for v in value)
    elif isinstance(value, (bool, dict)):
        raise UsageError(f"config file {path}: {key!r} cannot be {type(value).__name__}")
    elif isinstance(value, (str, int, float)):
        text = str(value)
    else:
        raise UsageError(f"config file {path}: {key!r} has an unsupported value {value!r}")
    converter = action.type if callable(action.type) else None
    try:
        converted = converter(text) if converter is not None else text
    except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
        raise UsageError(f"config file {path}: {key!r}: invalid value {value!r}") from exc
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(str(c) for c in action.choices)
        raise UsageError(f"config file {path}: {key!r} must be one of {choices}, got {value!r}")
    return converted


def defaults_from_file(parser: argparse.ArgumentParser, path: str) -> dict[str, Any]:
    """``{dest: value}`` for every key of the file; UsageError for unknown or bad keys."""
    options = _options(parser)
    values: dict[str, Any] = {}
    for raw_key, value in read(path).items():
        key = str(raw_key).replace("-", "_")
        if key in CONFIG_FLAGS:
            raise UsageError(f"config file {path}: {raw_key!r} belongs on the command line")
        action = options.get(key)
        if action is None:
            known = ", ".join(sorted(k.replace("_", "-") for k in options))
            raise UsageError(f"config file {path}: unknown key {raw_key!r} (known: {known})")
        values[action.dest] = _convert(path, str(raw_key), action, value)
    return values


def parse_with_config(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace:
    """Parse ``argv``; when it has ``--config FILE``, the file's values become the defaults."""
    first, _unknown = parser.parse_known_args(argv)
    path = getattr(first, "config", None)
    if path:
        parser.set_defaults(**defaults_from_file(parser, path))
    return parser.parse_args(argv)


SECRETS = frozenset({"token"})
"""Options whose values --print-config never shows (the output ends up in logs and tickets)."""


def to_toml(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The effective configuration as a TOML file ``--config`` reads back (None: commented)."""
    lines = ["# effective gossip-node configuration (gossip-node --config FILE reads it back)"]
    seen: set[str] = set()
    for key, action in _options(parser).items():
        if action.dest in seen:
            continue
        seen.add(action.dest)
        value = getattr(args, action.dest, None)
        name = key.replace("_", "-")
        if value is None:
            lines.append(f"# {name} =  (not set: {_help(action)})")
        elif action.dest in SECRETS:
            lines.append(f"# {name} = (set; not printed: a secret)")
        else:
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _help(action: argparse.Action) -> str:
    text = (action.help or "default").split("(default")[0].strip()
    return text or "default"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
