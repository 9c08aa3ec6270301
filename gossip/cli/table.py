"""Tables shared by gossip-ctl and gossip-cluster, built with rich.

Every function takes plain status / report dicts (README, Status JSON) and returns a
rich renderable or a string; nothing here talks to a node, so the rendering is
unit-tested without processes. :func:`render` turns a renderable into text.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table

StatusDict = Mapping[str, Any]

_STATE_STYLE = {"alive": "green", "suspect": "yellow", "dead": "red", "left": "dim"}
MISSING = "-"


# ------------------------------------------------------------ cell formatting


def fmt_bytes(count: float) -> str:
    """Human-readable bytes (1000-based, as network rates are usually quoted)."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def fmt_duration(seconds: float) -> str:
    """``42.1s``, ``3m05s`` or ``2h03m``: short enough for a table cell."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def metric_of(status: StatusDict) -> tuple[str, float | None]:
    """The held-out metric: accuracy for classification, else the named one (r2); None: not yet."""
    if status.get("accuracy") is not None:
        return "accuracy", float(status["accuracy"])
    metric = status.get("metric") or {}
    if metric.get("name"):
        return str(metric["name"]), float(metric.get("value", 0.0))
    return "accuracy", None


def fmt_metric(value: float | None) -> str:
    return MISSING if value is None else f"{value:.4f}"


def fmt_loss(value: float | None) -> str:
    """Four significant digits: a training loss near 0 must not read as 0.0000."""
    return MISSING if value is None else f"{float(value):.4g}"


def fmt_exchanges(status: StatusDict) -> str:
    """``ok/failed/refused`` in one cell."""
    ex = status.get("exchanges") or {}
    return f"{ex.get('ok', 0)}/{ex.get('failed', 0)}/{ex.get('refused', 0)}"


def fmt_traffic(status: StatusDict) -> str:
    """``sent / received``."""
    b = status.get("bytes") or {}
    return f"{fmt_bytes(b.get('sent', 0))} / {fmt_bytes(b.get('received', 0))}"


def alive_members(status: StatusDict) -> tuple[int, int]:
    """(alive, known) members in a node's view, itself excluded."""
    members = status.get("members") or []
    return sum(1 for m in members if m.get("state") == "alive"), len(members)


def _state(state: str) -> str:
    style = _STATE_STYLE.get(state)
    return f"[{style}]{state}[/{style}]" if style else state


def _metric_name(statuses: Iterable[StatusDict | None]) -> str:
    for status in statuses:
        if status is not None:
            return metric_of(status)[0]
    return "accuracy"


# ------------------------------------------------------------ gossip-ctl status


def fmt_schedule(status: StatusDict) -> str:
    """Steps per exchange and the time training waited for exchanges (gossip/schedule.py)."""
    schedule = status.get("schedule") or {}
    if not schedule:
        return "-"
    spe = schedule.get("steps_per_exchange")
    bound = schedule.get("local_steps", 0)
    return (
        f"{'-' if spe is None else f'{spe:.2f}'} steps per exchange, "
        f"waited {fmt_duration(float(schedule.get('waiting_s', 0.0)))} "
        f"({schedule.get('waits', 0)} times), {schedule.get('in_flight', 0)} in flight, "
        + (f"at most {bound} local steps" if bound else "free-running")
    )


def node_table(status: StatusDict) -> Table:
    """One node's own view as field/value rows: readable in any terminal width."""
    name, value = metric_of(status)
    model = status.get("model") or {}
    table = Table(title=f"node {status.get('id', '?')}", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = (
        ("id", str(status.get("id", ""))),
        ("address", str(status.get("address", ""))),
        ("state", str(status.get("state", ""))),
        ("step", str(status.get("step", 0))),
        ("training loss", fmt_loss(status.get("loss"))),
        (f"held-out {name}", fmt_metric(value)),
        ("exchanges ok/failed/refused", fmt_exchanges(status)),
        ("bytes sent / received", fmt_traffic(status)),
        ("schedule", fmt_schedule(status)),
        ("uptime", fmt_duration(float(status.get("uptime_s", 0.0)))),
        ("model", f"{model.get('params', 0)} params, fingerprint {model.get('fingerprint', '')}"),
    )
    for field, text in rows:
        table.add_row(field, text)
    return table


def members_table(status: StatusDict) -> Table:
    """The node's membership view: everyone it knows of, tombstones included."""
    members = status.get("members") or []
    alive, known = alive_members(status)
    table = Table(title=f"members ({alive}/{known} alive)", title_justify="left")
    table.add_column("id")
    table.add_column("address")
    table.add_column("state")
    table.add_column("generation", justify="right")
    table.add_column("last heard", justify="right")
    for m in sorted(members, key=lambda m: str(m.get("id", ""))):
        table.add_row(
            str(m.get("id", "")),
            str(m.get("address", "")),
            _state(str(m.get("state", ""))),
            str(m.get("generation", "")),
            f"{fmt_duration(float(m.get('last_heard_s', 0.0)))} ago",
        )
    return table


# ------------------------------------------------------------ gossip-cluster


@dataclass(frozen=True)
class PeerView:
    """One row of the live table: a launched peer and its latest status, if it answered."""

    id: str
    address: str
    status: StatusDict | None
    note: str = ""
    """Why there is no status (``starting``, ``exited 0``, ``unreachable``)."""


def live_table(peers: Sequence[PeerView], elapsed: float) -> Table:
    """The table gossip-cluster refreshes while the peers run."""
    name = _metric_name(p.status for p in peers)
    table = Table(title=f"gossip-cluster: {len(peers)} peers, {fmt_duration(elapsed)}")
    table.add_column("peer")
    table.add_column("step", justify="right")
    table.add_column("train loss", justify="right")
    table.add_column(f"held-out {name}", justify="right")
    table.add_column("ok/fail/ref", justify="right")
    table.add_column("sent / recv", justify="right")
    table.add_column("alive", justify="right")
    for peer in peers:
        status = peer.status
        if status is None:
            table.add_row(peer.id, f"[dim]{peer.note or 'unreachable'}[/dim]", *[MISSING] * 5)
            continue
        alive, known = alive_members(status)
        table.add_row(
            peer.id,
            str(status.get("step", 0)),
            fmt_loss(status.get("loss")),
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
    steps = [int(s.get("step", 0)) for s in statuses]
    ok = sum(int((s.get("exchanges") or {}).get("ok", 0)) for s in statuses)
    failed = sum(int((s.get("exchanges") or {}).get("failed", 0)) for s in statuses)
    metric = f"{name} mean {fmt_metric(mean(values))} min {fmt_metric(min(values, default=None))}"
    return (
        f"[{fmt_duration(elapsed)}] {len(statuses)}/{len(peers)} peers answering, "
        f"steps {min(steps)}-{max(steps)}, {metric}, exchanges ok {ok} failed {failed}"
    )


def summary_table(reports: Mapping[str, Mapping[str, Any] | None]) -> Table:
    """Final numbers per peer from its ``--report`` JSON (None: the peer wrote none)."""
    statuses = {k: (r or {}).get("status") for k, r in reports.items()}
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
            str(status.get("step", 0)),
            str(status.get("samples_seen", 0)),
            fmt_exchanges(status),
            fmt_traffic(status),
        )
    return table


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
    status: StatusDict | None
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
            "status": None if self.status is None else dict(self.status),
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
            str(status.get("step", 0)),
            fmt_loss(status.get("loss")),
            fmt_metric(metric_of(status)[1]),
            fmt_exchanges(status),
            fmt_traffic(status),
            str(status.get("generation", peer.generation)),
        )
    return table
