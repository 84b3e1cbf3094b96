"""Prometheus metrics of the realtime server, in a registry of its own (several servers can live in one process,
as they do in the tests). Exposed as text at ``GET /metrics`` on the server's port."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

_TICK_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5)
_WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0)


class BatchHistogram:
    """A histogram filled a tick's worth of observations at a time (one NumPy call, not one locked Prometheus
    ``observe`` per input: a thousand clients send 20,000 inputs a second), exported at scrape time."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.bounds = np.asarray(buckets, dtype=np.float64)
        self.counts = np.zeros(self.bounds.size + 1, dtype=np.int64)  # the last bucket is +Inf
        self.total = 0.0

    def observe_many(self, values: Sequence[float]) -> None:
        if not values:
            return
        v = np.asarray(values, dtype=np.float64)
        self.counts += np.bincount(np.searchsorted(self.bounds, v, side="left"), minlength=self.counts.size)
        self.total += float(v.sum())

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        cumulative = np.cumsum(self.counts).tolist()
        buckets = [(f"{b:g}", c) for b, c in zip(self.bounds.tolist(), cumulative, strict=False)]
        buckets.append(("+Inf", cumulative[-1]))
        return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=self.total)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.players = Gauge("mpgenie_players_connected", "Players with a live connection", ["session"], registry=r)
        self.players_dropped = Gauge(
            "mpgenie_players_awaiting_resume",
            "Players whose connection dropped, kept for resume",
            ["session"],
            registry=r,
        )
        self.spectators = Gauge("mpgenie_spectators_connected", "Spectator connections", ["session"], registry=r)
        self.tick_seconds = Histogram(
            "mpgenie_tick_duration_seconds",
            "Server work per tick (simulation + snapshots)",
            buckets=_TICK_BUCKETS,
            registry=r,
        )
        self.ticks = Counter("mpgenie_ticks", "Ticks simulated", registry=r)
        self.late_ticks = Counter("mpgenie_ticks_late", "Ticks that started more than one tick late", registry=r)
        self.bytes_out = Counter("mpgenie_bytes_out", "Payload bytes sent to clients", registry=r)
        self.messages_out = Counter("mpgenie_messages_out", "Messages sent to clients", ["type"], registry=r)
        # Per-frame counters are plain ints (a Prometheus Counter takes a lock per inc; at 20k inputs/s that shows
        # in the profile), exported at scrape time by the collector below.
        self.frames_in = 0
        self.frame_bytes_in = 0
        # How long each applied input waited in the server between arriving and its tick: the server's share of
        # input latency (the client's round trip adds the network and the snapshot back).
        self.input_wait = BatchHistogram(_WAIT_BUCKETS)
        # Entity record bytes sent as deltas, and what full snapshots would have sent instead (the baseline).
        self.entity_bytes_sent = 0
        self.entity_bytes_full = 0
        r.register(_InboundCollector(self))
        self.rejected = Counter("mpgenie_rejected_inputs", "Messages refused, by reason", ["reason"], registry=r)
        self.disconnects = Counter(
            "mpgenie_disconnects", "Connections closed by the server, by reason", ["reason"], registry=r
        )
        self.absorbed = Counter(
            "mpgenie_inputs_absorbed",
            "Inputs of honest clients absorbed without a violation: 'late' (more inputs than ticks: the oldest was "
            "dropped) and 'clock' (client tick far from the server's; applied)",
            ["reason"],
            registry=r,
        )
        # The two labels counted per input, looked up once (a labelled lookup per message shows at 20k inputs/s).
        self.absorbed_late = self.absorbed.labels("late")
        self.absorbed_clock = self.absorbed.labels("clock")
        self.snapshots_skipped = Counter(
            "mpgenie_snapshots_skipped",
            "Snapshots not sent to a client that is behind (its send backlog had not drained)",
            registry=r,
        )
        self.entity_updates = Counter(
            "mpgenie_entity_records_out", "Entity records sent in snapshots (enter+moved+turned+state)", registry=r
        )

    def forget_session(self, session: str) -> None:
        """Drop a session's series when its world ends: label sets are never freed otherwise, and an ended
        session's last values would be exported (and summed into totals) forever."""
        for gauge in (self.players, self.players_dropped, self.spectators):
            try:
                gauge.remove(session)
            except KeyError:  # the session never set that gauge
                continue

    def value(self, name: str, **labels: str) -> float:
        """Current value of a sample (e.g. ``mpgenie_bytes_out_total``), 0 when it does not exist yet."""
        return self.registry.get_sample_value(name, labels or None) or 0.0

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _InboundCollector(Collector):
    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("mpgenie_messages_in", "Messages received from clients", self.metrics.frames_in)
        yield CounterMetricFamily(
            "mpgenie_bytes_in", "Payload bytes received from clients", self.metrics.frame_bytes_in
        )
        yield self.metrics.input_wait.family(
            "mpgenie_input_wait_seconds", "Time an applied input waited in the server for its tick"
        )
