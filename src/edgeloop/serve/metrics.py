"""The server's counters, histograms and gauges, exposed through ``prometheus_client``.

Values are kept here, keyed by label tuples under one lock (recording is a dict
update on the request path); ``prometheus_client`` renders them for GET /metrics,
escaping label values, from a registry of this ``Metrics`` object alone, so
several servers in one process never share or clash over series.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the Prometheus text format

Labels = tuple[tuple[str, str], ...]


def labels(**values: str) -> Labels:
    """A label set: the key of one series."""
    return tuple(sorted(values.items()))


def _label_names(keys: list[Labels]) -> list[str]:
    """Every label name used by a metric's series (a series lacking one gets "")."""
    return sorted({name for key in keys for name, _ in key})


def _values(key: Labels, names: list[str]) -> list[str]:
    found = dict(key)
    return [found.get(name, "") for name in names]


class Metrics:
    """Counters, latency histograms and gauges read on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self._hist: dict[str, dict[Labels, list[float]]] = defaultdict(dict)
        self._help: dict[str, tuple[str, str]] = {}
        self._gauges: dict[str, Callable[[], dict[Labels, float]]] = {}
        self._registry: CollectorRegistry | None = None

    def inc(self, name: str, help_text: str, value: float = 1.0, **label_values: str) -> None:
        """Add to a counter."""
        with self._lock:
            self._help.setdefault(name, ("counter", help_text))
            self._counters[name][labels(**label_values)] += value

    def observe(self, name: str, help_text: str, seconds: float, **label_values: str) -> None:
        """Record one latency in a histogram."""
        key = labels(**label_values)
        with self._lock:
            self._help.setdefault(name, ("histogram", help_text))
            # cumulative per-bucket counts, then sum, then count
            row = self._hist[name].setdefault(key, [0.0] * (len(LATENCY_BUCKETS_S) + 2))
            for i, bound in enumerate(LATENCY_BUCKETS_S):
                if seconds <= bound:
                    row[i] += 1
            row[-2] += seconds
            row[-1] += 1

    def gauge(self, name: str, help_text: str, read: Callable[[], dict[Labels, float]]) -> None:
        """Register a gauge read at exposition time."""
        with self._lock:
            self._help[name] = ("gauge", help_text)
            self._gauges[name] = read

    @property
    def registry(self) -> CollectorRegistry:
        """This object's own ``prometheus_client`` registry (never the process-wide one)."""
        from prometheus_client import CollectorRegistry

        with self._lock:
            if self._registry is None:
                self._registry = CollectorRegistry(auto_describe=False)
                self._registry.register(self)
            return self._registry

    def collect(self) -> Iterator[Metric]:
        """The metric families, for ``prometheus_client`` (the Collector protocol)."""
        with self._lock:
            counters = {k: dict(v) for k, v in self._counters.items()}
            hists = {k: {lk: list(lv) for lk, lv in v.items()} for k, v in self._hist.items()}
            gauges = dict(self._gauges)
            helps = dict(self._help)
        for name, (kind, text) in sorted(helps.items()):
            if kind == "counter":
                yield _counter(name, text, counters.get(name, {}))
            elif kind == "gauge":
                yield _gauge(name, text, gauges[name]())
            else:
                yield _histogram(name, text, hists.get(name, {}))

    def render(self) -> str:
        """The Prometheus text exposition format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()


def _counter(name: str, text: str, series: dict[Labels, float]) -> Metric:
    from prometheus_client.core import CounterMetricFamily

    names = _label_names(list(series))
    family = CounterMetricFamily(name, text, labels=names)
    for key, value in sorted(series.items()):
        family.add_metric(_values(key, names), value)
    return family


def _gauge(name: str, text: str, series: dict[Labels, float]) -> Metric:
    from prometheus_client.core import GaugeMetricFamily

    names = _label_names(list(series))
    family = GaugeMetricFamily(name, text, labels=names)
    for key, value in sorted(series.items()):
        family.add_metric(_values(key, names), value)
    return family


def _histogram(name: str, text: str, series: dict[Labels, list[float]]) -> Metric:
    from prometheus_client.core import HistogramMetricFamily

    names = _label_names(list(series))
    family = HistogramMetricFamily(name, text, labels=names)
    for key, row in sorted(series.items()):
        buckets = [(repr(b), c) for b, c in zip(LATENCY_BUCKETS_S, row, strict=False)]  # "0.001", "1.0"
        family.add_metric(_values(key, names), [*buckets, ("+Inf", row[-1])], row[-2])
    return family
