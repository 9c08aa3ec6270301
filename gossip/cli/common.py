"""What every command shares: one-line usage errors, logging setup, a guarded main."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import NoReturn

from gossip.errors import GossipError, UsageError
from gossip.logsafe import JsonFormatter, OneLineFormatter

# gRPC's C core logs its own lines to stderr (a port in use, a reconnect); our
# commands say what matters in one line. GRPC_VERBOSITY=error brings them back.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")


class Parser(argparse.ArgumentParser):
    """argparse with one clear error line (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def setup_logging(fmt: str = "text", level: str = "info") -> None:
    """Readable text by default, one JSON object per line with ``json``.

    Either way each record is one printable line, its fields cut (gossip.logsafe).
    """
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        formatter = OneLineFormatter(
            "%(asctime)s.%(msecs)03d %(levelname)-5s %(message)s", "%H:%M:%S"
        )
        formatter.converter = time.localtime
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def guarded(prog: str, body: Callable[[], int]) -> int:
    """Run a command body; a user's mistake is one line and exit 2, never a traceback."""
    try:
        return body()
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except GossipError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
