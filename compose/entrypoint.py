"""Container entrypoint: ``gossip-node`` with its flags also taken from the environment.

Every ``GOSSIP_<NAME>`` variable becomes ``--<name>`` (lower case, ``_`` to ``-``):
``GOSSIP_PEERS=peer:50051`` is ``--peers peer:50051``. Arguments given to the
container come after, so they win. Exceptions:

* ``GOSSIP_TOKEN`` is left to gossip-node itself (a secret stays out of argv).
* A variable naming a flag this gossip-node does not have is skipped with one
  line on stderr, so one compose file serves images with and without newer
  flags (``--checkpoint-dir``, ``--metrics-port``).
* A switch (a flag without a value) is given when its variable is 1, true, yes or on.
* ``GOSSIP_MODEL_FACTORY=package.module:function`` is ``--model-factory``: the user's own
  model, importable from the working directory or ``PYTHONPATH`` (mount it there).
* ``GOSSIP_SHARD=auto/N`` picks part ``hash(hostname) % N``: identical replicas
  (``--scale``) need no index of their own. Parts may repeat; with ``iid``
  partitions that only means two peers share a shard.
* ``--id`` defaults to the container's host name, which stays the same when the
  container restarts (a restart is a new generation of the same member) and is
  what Docker's DNS resolves on the compose network.
"""

from __future__ import annotations

import os
import socket
import sys
import zlib

from gossip.cli.node import build_parser, main

PREFIX = "GOSSIP_"
LEFT_TO_NODE = {"GOSSIP_TOKEN"}


def known_flags() -> dict[str, bool]:
    """gossip-node's flags, each with whether it takes a value (False: a switch)."""
    return {
        opt: action.nargs != 0
        for action in build_parser()._actions
        for opt in action.option_strings
    }


def flags_from_env(env: dict[str, str], flags: dict[str, bool], hostname: str) -> list[str]:
    argv: list[str] = []
    for key in sorted(env):
        value = env[key]
        if not key.startswith(PREFIX) or key in LEFT_TO_NODE or value == "":
            continue
        flag = "--" + key[len(PREFIX) :].lower().replace("_", "-")
        if flag not in flags:
            print(f"gossip-entrypoint: ignoring {key}: gossip-node has no {flag}", file=sys.stderr)
            continue
        if flag == "--shard" and value.startswith("auto/"):
            parts = value[len("auto/") :]
            if not parts.isdigit() or int(parts) < 1:
                print(
                    f"gossip-entrypoint: {key} must be I/N or auto/N, got {value!r}",
                    file=sys.stderr,
                )
                sys.exit(2)
            value = f"{zlib.crc32(hostname.encode()) % int(parts)}/{parts}"
        if not flags[flag]:  # a switch: GOSSIP_PRINT_CONFIG=1 is --print-config
            if value.lower() in ("1", "true", "yes", "on"):
                argv.append(flag)
            continue
        argv += [flag, value]
    if "--id" not in argv:
        argv += ["--id", hostname]
    return argv


if __name__ == "__main__":
    host = socket.gethostname()
    sys.exit(main(flags_from_env(dict(os.environ), known_flags(), host) + sys.argv[1:]))
