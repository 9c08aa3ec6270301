"""What a valid node id and a valid address are, checked once where a peer's text comes in.

Ids and addresses from peers become dictionary keys, log fields and status
entries, and addresses are dialled. The rules are narrow so that a valid one
is short and printable everywhere:

* an **id** is 1 to :data:`MAX_ID_CHARS` characters of ASCII letters, digits,
  ``.``, ``_`` and ``-``, starting with a letter or digit (``node-3``,
  ``gossip-0.gossip``);
* an **address** is ``HOST:PORT`` of at most :data:`MAX_ADDRESS_CHARS`
  characters: a host name or IPv4 address (letters, digits, ``.``, ``_``,
  ``-``) or an IPv6 address (bracketed or not), and a port from 1 to 65535.

The edges that check them: the exchange header (refused ``invalid_id``), each
membership entry and digest sender (dropped, counted ``malformed``), the
catch-up request, and ``--id`` / ``--advertise`` at start-up.
"""

from __future__ import annotations

import re

MAX_ID_CHARS = 64
MAX_ADDRESS_CHARS = 128

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HOST = re.compile(r"[A-Za-z0-9._-]+|[0-9A-Fa-f:.]+|\[[0-9A-Fa-f:.]+(%[A-Za-z0-9._-]+)?\]")


def id_problem(node_id: str) -> str | None:
    """Why ``node_id`` is not a valid id, or None when it is."""
    if not node_id:
        return "an empty id"
    if len(node_id) > MAX_ID_CHARS:
        return f"an id of {len(node_id)} characters (at most {MAX_ID_CHARS})"
    if not _ID.fullmatch(node_id):
        return f"id {node_id!r} has characters other than letters, digits, '.', '_', '-'"
    return None


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a valid HOST:PORT, or None when it is."""
    if len(address) > MAX_ADDRESS_CHARS:
        return f"an address of {len(address)} characters (at most {MAX_ADDRESS_CHARS})"
    host, sep, port = address.rpartition(":")
    if not sep or not _HOST.fullmatch(host) or not port.isdigit() or not 0 < int(port) < 65536:
        return f"address {address!r} is not HOST:PORT"
    return None
