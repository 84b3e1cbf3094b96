"""Progress of a dataset generation run as Prometheus metrics in a text file (``generate --metrics-file``).

A generation run is a batch job: nothing stays up to be scraped. The standard home for a batch job's metrics is a
file in the node exporter's textfile-collector directory (or a sidecar that serves it), rewritten atomically as the
run goes (``prometheus_client.write_to_textfile`` writes a temporary file and renames it). Dashboards then show the
generation rate as ``rate(mpgenie_dataset_frames_total[5m])``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class GenerationMetrics(Collector):
    """The run's totals so far; :meth:`update` is a ``progress(done, total)`` callback of ``dataset.generate``."""

    def __init__(self, path: str | Path, frames_per_episode: int, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self.frames_per_episode = frames_per_episode
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.total = 0
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def update(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        write_to_textfile(self.path, self.registry)

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("mpgenie_dataset_episodes", "Episodes published by this run", self.done)
        yield CounterMetricFamily(
            "mpgenie_dataset_frames",
            "Synchronized frames published (episodes x views x ticks)",
            self.done * self.frames_per_episode,
        )
        yield GaugeMetricFamily("mpgenie_dataset_episodes_planned", "Episodes this run records in all", self.total)
        yield GaugeMetricFamily("mpgenie_dataset_run_started_seconds", "Unix time the run started", self.started)
        yield GaugeMetricFamily("mpgenie_dataset_updated_seconds", "Unix time of this update", self.clock())
