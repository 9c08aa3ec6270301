"""Live tables of gossip-cluster and ``gossip-ctl cluster`` / ``watch``, built with rich.

Every function takes statuses (gossip.status) or report dicts and returns a
rich renderable or a string; nothing here talks to a node, so the rendering is
unit-tested without processes. :func:`render` turns a renderable into text. The
cells come from :mod:`gossip.cli.cells`, which ``gossip-ctl status`` prints alone.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table

from gossip.cli.cells import (
    MISSING,
    alive_members,
    fmt_duration,
    fmt_exchanges,
    fmt_loss,
    fmt_metric,
    fmt_traffic,
    metric_of,
)
from gossip.status import Status

_STATE_STYLE = {"alive": "green", "suspect": "yellow", "dead": "red", "left": "dim"}


def _state(state: str) -> str:
    style = _STATE_STYLE.get(state)
    return f"[{style}]{state}[/{style}]" if style else state


def _metric_name(statuses: Iterable[Status | None]) -> str:
    for status in statuses:
        if status is not None:
            return metric_of(status)[0]
    return "accuracy"


# ------------------------------------------------------------ gossip-cluster


@dataclass(frozen=True)
class PeerView:
    """One row of the live table: a launched peer and its latest status, if it answered."""

    id: str
    address: str
    status: Status | None
    note: str = ""
    """Why there is no status (``starting``, ``exited 0``, ``unreachable``)."""


def live_table(peers: Sequence[PeerView], elapsed: float) -> Table:
    """The table gossip-cluster refreshes while the peers run."""
    name = _metric_name(p.status for p in peers)
    table = Table(title=f"gossip-cluster: {len(peers)} peers, {fmt_duration(elapsed)}")
    table.add_column("peer")
    table.add_column("address")
    table.add_column("step", justify="right")
    table.add_column("train loss", justify="right")
    table.add_column(f"held-out {name}", justify="right")
    table.add_column("ok/fail/ref", justify="right")
    table.add_column("sent / recv", justify="right")
    table.add_column("alive", justify="right")
    for peer in peers:
        status = peer.status
        if status is None:
            note = f"[dim]{peer.note or 'unreachable'}[/dim]"
            table.add_row(peer.id, peer.address, note, *[MISSING] * 5)
            continue
        alive, known = alive_members(status)
        table.add_row(
            peer.id,
            peer.address,
            str(status.step),
            fmt_loss(status.loss),
            fmt_metric(metric_of(status)[1]),
            fmt_exchanges(status),
            fmt_traffic(status),
            f"{alive}/{known}",
        )
    return table


def progress_line(peers: Sequence[PeerView], elapsed: float) -> str:
    """One plain line for logs and pipes, where a live table would be noise."""
    statuses = [p.status for p in peers if p.status is not None]
    if not statuses:
        return f"[{fmt_duration(elapsed)}] 0/{len(peers)} peers answering"
    name = _metric_name(statuses)
    values = [v for v in (metric_of(s)[1] for s in statuses) if v is not None]
    steps = [s.step for s in statuses]
    ok = sum(s.exchanges.ok for s in statuses)
    failed = sum(s.exchanges.failed for s in statuses)
    metric = f"{name} mean {fmt_metric(mean(values))} min {fmt_metric(min(values, default=None))}"
    return (
        f"[{fmt_duration(elapsed)}] {len(statuses)}/{len(peers)} peers answering, "
        f"steps {min(steps)}-{max(steps)}, {metric}, exchanges ok {ok} failed {failed}"
    )


def summary_table(reports: Mapping[str, Mapping[str, Any] | None]) -> Table:
    """Final numbers per peer from its ``--report`` JSON (None: the peer wrote none)."""
    statuses = {k: report_status(r) for k, r in reports.items()}
    name = _metric_name(statuses.values())
    table = Table(
        title="final, per peer (metric and loss on the held-out set)", title_justify="left"
    )
    table.add_column("peer")
    table.add_column(name, justify="right")
    table.add_column("test loss", justify="right")
    table.add_column("steps", justify="right")
    table.add_column("samples", justify="right")
    table.add_column("ok/fail/ref", justify="right")
    table.add_column("sent / recv", justify="right")
    for peer_id, status in statuses.items():
        if not status:
            table.add_row(peer_id, "[red]no report[/red]", *[MISSING] * 5)
            continue
        history = (reports[peer_id] or {}).get("history") or [{}]
        held_out_loss = history[-1].get("loss")
        table.add_row(
            peer_id,
            fmt_metric(metric_of(status)[1]),
            MISSING if held_out_loss is None else f"{float(held_out_loss):.4f}",
            str(status.step),
            str(status.samples_seen),
            fmt_exchanges(status),
            fmt_traffic(status),
        )
    return table


def report_status(report: Mapping[str, Any] | None) -> Status | None:
    """The final status in a peer's ``--report`` JSON; None without one."""
    status = (report or {}).get("status")
    return Status.from_json(status) if status else None


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def render(renderable: RenderableType, width: int = 120) -> str:
    """Plain text of a renderable (no colour codes): for tests and non-terminals."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(renderable)
    return buffer.getvalue()


# ------------------------------------------------------------ gossip-ctl cluster / watch


@dataclass(frozen=True)
class ClusterPeer:
    """One member of a discovered cluster: as the target's view lists it, and its own answer."""

    id: str
    address: str
    state: str
    """Its state in the view it was discovered from (``self`` for the target itself)."""
    generation: int
    status: Status | None
    error: str = ""
    """Why there is no status (``unreachable: ...``)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "address": self.address,
            "state": self.state,
            "generation": self.generation,
            "reachable": self.status is not None,
            "error": self.error or None,
            "status": None if self.status is None else self.status.as_json(),
        }


def cluster_table(peers: Sequence[ClusterPeer], title: str = "cluster") -> Table:
    """One row per member: its state, progress, held-out metric, exchanges, bytes, generation."""
    name = _metric_name(p.status for p in peers)
    answering = sum(1 for p in peers if p.status is not None)
    table = Table(
        title=f"{title}: {answering}/{len(peers)} members answering", title_justify="left"
    )
    table.add_column("id")
    table.add_column("address")
    table.add_column("state")
    table.add_column("step", justify="right")
    table.add_column("loss", justify="right")
    table.add_column(name, justify="right")
    table.add_column("ok/fail/ref", justify="right")
    table.add_column("sent / recv", justify="right")
    table.add_column("generation", justify="right")
    for peer in peers:
        status = peer.status
        if status is None:
            note = "unreachable"  # its state column says whether that is news
            table.add_row(
                peer.id,
                peer.address,
                _state(peer.state),
                f"[dim]{note}[/dim]",
                *[MISSING] * 4,
                str(peer.generation),
            )
            continue
        table.add_row(
            peer.id,
            peer.address,
            _state(peer.state),
            str(status.step),
            fmt_loss(status.loss),
            fmt_metric(metric_of(status)[1]),
            fmt_exchanges(status),
            fmt_traffic(status),
            str(status.generation),
        )
    return table
