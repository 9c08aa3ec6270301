"""NodeConfig validation: every bad value is one UsageError naming the flag."""

from __future__ import annotations

from dataclasses import fields

import pytest

from gossip.address import parse_address, parse_peers
from gossip.cli.node import config_from_args
from gossip.config import NodeConfig, options
from gossip.errors import UsageError


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"listen": "nohost"}, "--listen"),
        ({"listen": "h:99999"}, "--listen"),
        ({"peers": ("a:1", "b")}, "--peers"),
        ({"shard": (3, 3)}, "--shard"),
        ({"batch_size": 0}, "--batch-size"),
        ({"blas_threads": -1}, "--blas-threads"),
        ({"gossip_interval": -1.0}, "--gossip-interval"),
        ({"alpha": 0.8}, "--alpha"),
        ({"loss": "hinge"}, "--loss"),
        ({"optimizer": "rmsprop"}, "--optimizer"),
        ({"compression": "bogus"}, "--compression"),
        ({"max_steps": -1}, "--max-steps"),
        ({"holdout": 1.5}, "--holdout"),
        ({"id": "has space"}, "--id"),  # gossip.names: peers would drop it
        ({"id": "x" * 65}, "--id"),
        ({"advertise": "host:0"}, "--advertise"),
    ],
)
def test_bad_values_name_the_flag(kwargs: dict[str, object], flag: str) -> None:
    with pytest.raises(UsageError, match=flag):
        NodeConfig(**kwargs)  # type: ignore[arg-type]


def test_addresses_and_peers_parse() -> None:
    assert parse_address("[::1]:5000") == ("::1", 5000)
    assert parse_peers(" a:1, ,b:2 ") == ("a:1", "b:2")


def test_advertised_address_defaults_to_the_bound_one() -> None:
    assert NodeConfig().advertised("127.0.0.1:4000") == "127.0.0.1:4000"
    assert NodeConfig(advertise="me:1").advertised("0.0.0.0:4000") == "me:1"
    assert not NodeConfig().advertised("0.0.0.0:4000").startswith("0.0.0.0")


def test_every_field_is_a_flag_whose_default_is_the_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """One declaration per flag (gossip/config.py): the parser and the config cannot drift."""
    monkeypatch.delenv("GOSSIP_TOKEN", raising=False)
    assert {o.field for o in options()} == {f.name for f in fields(NodeConfig)} - {"extra"}
    assert config_from_args([]) == NodeConfig()
    parsed = config_from_args(["--no-bootstrap", "--samples", "7", "--shard", "1/3",
                               "--peers", "a:1, b:2", "--log-level", "debug"])  # fmt: skip
    assert not parsed.bootstrap and parsed.synthetic_samples == 7 and parsed.shard == (1, 3)
    assert parsed.peers == ("a:1", "b:2") and parsed.log_level == "debug"
