"""Token, TLS material and stream limits (pure parts; real gRPC in tests/integration)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from gossip.errors import UsageError
from gossip.transport.security import Deadlines, Limiter, bearer_token, load_tls, resolve_token

from ..tls import make_pki


def test_token_from_flag_then_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOSSIP_TOKEN", raising=False)
    assert resolve_token(None) is None
    monkeypatch.setenv("GOSSIP_TOKEN", "env-secret")
    assert resolve_token(None) == "env-secret"
    assert resolve_token("flag") == "flag"


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer s3cret", "s3cret"),
        ("bearer s3cret", "s3cret"),  # case 7: the scheme is case-insensitive (RFC 7235)
        ("BEARER   s3cret", "s3cret"),
        (b"Bearer s3cret", "s3cret"),
        ("s3cret", ""),  # a bare token is refused
        ("Basic s3cret", ""),
        ("Bearer", ""),
    ],
)
def test_one_bearer_rule(value: str | bytes, token: str) -> None:
    assert bearer_token([("x-other", "1"), ("authorization", value)]) == token
    assert bearer_token([("x-other", "1")]) is None


def test_limiter_per_peer_and_total() -> None:
    limiter = Limiter(per_peer=2, total=3)
    a1, a2 = limiter.open("a"), limiter.open("a")
    assert a1 and a2 and limiter.open("a") is None  # per connection
    assert limiter.talk(a1) and limiter.talk(a2)
    b = limiter.open("b")
    assert b and limiter.talk(b)
    c = limiter.open("c")
    assert c and not limiter.talk(c)  # every talking slot taken
    limiter.close(c)
    limiter.close(a1)
    c = limiter.open("c")
    assert c and limiter.talk(c)
    assert limiter.rejected == 2 and limiter.active() == 3


def test_silent_streams_have_slots_of_their_own() -> None:
    """Case 6: silent streams cut each other, never a talking one, and never block one."""
    limiter = Limiter(per_peer=2, total=2, silent=3)
    cancelled: list[str] = []
    silent = []
    for i in range(4):
        stream = limiter.open(f"s{i}")
        assert stream
        limiter.silent(stream, lambda i=i: cancelled.append(f"s{i}"))
        silent.append(stream)
    assert cancelled == ["s0"] and limiter.evicted == 1  # the oldest made room
    member = limiter.open("member")
    assert member and limiter.talk(member) and cancelled == ["s0"]
    limiter.silent(member, lambda: cancelled.append("member"))  # a late timer: no effect
    assert limiter.talk(silent[1])  # a silent stream that talks at last takes a talking slot
    late = limiter.open("s9")
    assert late and not limiter.talk(late)  # talking slots full: refused, nobody cut
    assert cancelled == ["s0"] and limiter.active() == 6
    for stream in (*silent, member, late):
        limiter.close(stream)
    assert limiter.active() == 0


def test_deadlines_run_in_order_once_and_cancelled_ones_never() -> None:
    deadlines = Deadlines()
    ran: list[str] = []
    done = threading.Event()
    deadlines.add(0.2, lambda: (ran.append("late"), done.set()))
    cancelled = deadlines.add(0.05, lambda: ran.append("cancelled"))
    deadlines.add(0.01, lambda: ran.append("early"))
    deadlines.cancel(cancelled)
    assert done.wait(10)
    deadlines.cancel(cancelled)  # again, and after the others ran: no-ops
    assert ran == ["early", "late"] and len(deadlines) == 0
    for _ in range(1000):  # streams that end before their deadlines leave nothing behind
        deadlines.cancel(deadlines.add(60.0, lambda: None))
    assert len(deadlines) == 0 and len(deadlines._heap) < 200


def test_tls_files_are_checked(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    tls = load_tls(str(pki.cert), str(pki.key), str(pki.ca), server=True)
    assert tls is not None and tls.ca is not None
    assert load_tls(None, None, None, server=True) is None
    with pytest.raises(UsageError, match="go together"):
        load_tls(str(pki.cert), None, None, server=True)
    with pytest.raises(UsageError, match="--tls-cert"):
        load_tls(None, None, str(pki.ca), server=True)
    with pytest.raises(UsageError, match="cannot read"):
        load_tls(str(tmp_path / "missing.pem"), str(pki.key), None, server=True)
    with pytest.raises(UsageError, match="not a PEM"):
        (tmp_path / "junk.pem").write_text("hello")
        load_tls(str(tmp_path / "junk.pem"), str(pki.key), None, server=True)
    with pytest.raises(UsageError, match="valid pair"):
        load_tls(str(pki.cert), str(pki.other_key), None, server=True)
    assert load_tls(None, None, str(pki.ca), server=False) is not None
    assert os.stat(pki.key).st_mode & 0o077 == 0
