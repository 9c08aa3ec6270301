"""A node's status as table cells and as plain aligned text; no rich here.

``gossip-ctl status`` and ``members`` print with these alone: operators run them
in loops and probes, and rich takes longer to load than the Status call takes
(bench/ctl_startup.py). The live tables of gossip-cluster and ``gossip-ctl
cluster`` / ``watch`` (gossip.cli.table) use the same cells.
"""

from __future__ import annotations

from collections.abc import Sequence

from gossip.status import Status

MISSING = "-"


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


def metric_of(status: Status) -> tuple[str, float | None]:
    """The held-out metric: accuracy for classification, else the named one (r2); None: not yet."""
    if status.accuracy is not None:
        return "accuracy", status.accuracy
    if status.metric.name:
        return status.metric.name, status.metric.value
    return "accuracy", None


def fmt_metric(value: float | None) -> str:
    return MISSING if value is None else f"{value:.4f}"


def fmt_loss(value: float | None) -> str:
    """Four significant digits: a training loss near 0 must not read as 0.0000."""
    return MISSING if value is None else f"{float(value):.4g}"


def fmt_exchanges(status: Status) -> str:
    """``ok/failed/refused`` in one cell."""
    ex = status.exchanges
    return f"{ex.ok}/{ex.failed}/{ex.refused}"


def fmt_traffic(status: Status) -> str:
    """``sent / received``."""
    return f"{fmt_bytes(status.bytes.sent)} / {fmt_bytes(status.bytes.received)}"


def alive_members(status: Status) -> tuple[int, int]:
    """(alive, known) members in a node's view, itself excluded."""
    members = status.members
    return sum(1 for m in members if m.state == "alive"), len(members)


def fmt_schedule(status: Status) -> str:
    """Steps per exchange and the time training waited for exchanges (gossip/schedule.py)."""
    schedule = status.schedule
    spe = schedule.steps_per_exchange
    bound = schedule.local_steps
    return (
        f"{'-' if spe is None else f'{spe:.2f}'} steps per exchange, "
        f"waited {fmt_duration(schedule.waiting_s)} "
        f"({schedule.waits} times), {schedule.in_flight} in flight, "
        + (f"at most {bound} local steps" if bound else "free-running")
    )


# ------------------------------------------------------------ plain text


def text_table(
    header: Sequence[str] | None, rows: Sequence[Sequence[str]], indent: str = "  "
) -> str:
    """Columns padded to their widest cell, two spaces apart; no trailing blanks."""
    lines = [list(header)] if header else []
    lines += [list(row) for row in rows]
    if not lines:
        return ""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        (indent + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))).rstrip()
        for line in lines
    )


def node_rows(status: Status) -> list[tuple[str, str]]:
    """The node's own view as (field, value) pairs."""
    name, value = metric_of(status)
    model = status.model
    return [
        ("id", status.id),
        ("address", status.address),
        ("state", status.state),
        ("step", str(status.step)),
        ("training loss", fmt_loss(status.loss)),
        (f"held-out {name}", fmt_metric(value)),
        ("exchanges ok/failed/refused", fmt_exchanges(status)),
        ("bytes sent / received", fmt_traffic(status)),
        ("schedule", fmt_schedule(status)),
        ("uptime", fmt_duration(status.uptime_s)),
        ("model", f"{model.params} params, fingerprint {model.fingerprint}"),
    ]


def node_text(status: Status) -> str:
    """``node ID`` and one line per field: readable in any terminal width."""
    return f"node {status.id}\n" + text_table(None, node_rows(status))


def members_text(status: Status) -> str:
    """The node's membership view: everyone it knows of, tombstones included."""
    alive, known = alive_members(status)
    rows = [
        [m.id, m.address, m.state, str(m.generation), f"{fmt_duration(m.last_heard_s)} ago"]
        for m in sorted(status.members, key=lambda m: m.id)
    ]
    title = f"members ({alive}/{known} alive)"
    if not rows:
        return title
    return title + "\n" + text_table(["id", "address", "state", "generation", "last heard"], rows)
