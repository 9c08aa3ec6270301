"""What the commands load before they do anything: kept small on purpose.

``gossip-ctl`` runs in operators' loops and probes: numpy (and the exchange
machinery) must never load for it, nor protobuf's runtime (the reply is decoded
by gossip.transport.lightpb), nor rich for ``status --json`` and the plain
``status`` / ``members`` output (bench/ctl_startup.py measures the time).
``gossip-node`` loads numpy and gRPC inside its guard, so a Ctrl-C then is quiet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import gossip


def loaded_after(code: str) -> set[str]:
    """Modules a fresh interpreter holds after running ``code``."""
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    env = {k: v for k, v in os.environ.items() if k != "GOSSIP_TOKEN"}  # no token: plain calls
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120,
        env=env,
    ).stdout  # fmt: skip
    return set(json.loads(out.strip().splitlines()[-1]))


def heavy(modules: set[str]) -> set[str]:
    roots = {"numpy", "rich", "gossip.node", "gossip.transport.grpc_transport", "prometheus_client"}
    return {m for m in modules if m in roots or m.split(".")[0] == "numpy" or "protobuf" in m}


def test_ctl_status_call_loads_neither_numpy_nor_rich() -> None:
    """Everything `gossip-ctl status --json` runs, with an unreachable target for the call."""
    code = (
        "from gossip.cli.ctl import main\n"
        "assert main(['status', '--target', '127.0.0.1:9', '--timeout', '0.5', '--json']) == 1"
    )
    assert heavy(loaded_after(code)) == set()


@pytest.mark.parametrize("verb", ["status", "members"])
def test_ctl_plain_output_needs_no_rich(verb: str) -> None:
    status = {
        "id": "n1", "address": "a:1", "state": "training", "step": 3, "loss": None,
        "accuracy": None, "metric": {"name": "", "value": 0.0}, "uptime_s": 1.0,
        "members": [{"id": "n2", "address": "b:1", "state": "alive", "generation": 1,
                     "last_heard_s": 0.1}],
    }  # fmt: skip
    code = (
        "from gossip.cli import ctl\n"
        "from gossip.status import Status\n"
        f"status = Status.from_json({status!r})\n"
        f"assert ctl._run([{verb!r}, '--target', 'a:1'], lambda a, t: status) == 0"
    )
    assert heavy(loaded_after(code)) == set()


def test_importing_the_node_command_loads_no_numpy() -> None:
    assert heavy(loaded_after("import gossip.cli.node")) == set()


def test_dir_lists_the_lazily_loaded_names() -> None:
    assert {"Dense", "Node", "NodeConfig", "Sequential", "mlp"} <= set(dir(gossip))


def test_a_lazily_loaded_name_is_the_same_object_every_time() -> None:
    """Not a submodule of the same name, which Python sets on the package once imported."""
    script = (
        "import gossip\n"
        "first = gossip.fit\n"
        "import gossip.fitting\n"
        "assert gossip.fit is first and callable(gossip.fit), gossip.fit\n"
        "assert all(getattr(gossip, n) is getattr(gossip, n) for n in gossip.__all__)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_ctl_names_the_token_variable_as_security_does() -> None:
    from gossip.cli import ctl
    from gossip.transport import security

    assert ctl.TOKEN_ENV == security.TOKEN_ENV


def test_ctl_plain_call_skips_the_security_module() -> None:
    code = (
        "from gossip.cli.ctl import main\n"
        "assert main(['status', '--target', '127.0.0.1:9', '--timeout', '0.5', '--json']) == 1"
    )
    assert "gossip.transport.security" not in loaded_after(code)
