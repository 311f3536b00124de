"""Prometheus text-format metrics, without a client library.

Counters and histograms keyed by label tuples, guarded by one lock; the
exposition is rendered on demand for GET /metrics.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[tuple[str, str], ...]


def _labels(**labels: str) -> Labels:
    return tuple(sorted(labels.items()))


def _fmt(labels: Labels, extra: str = "") -> str:
    parts = [f'{k}="{v}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Metrics:
    """The server's counters, histograms and gauges."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self._hist: dict[str, dict[Labels, list[float]]] = defaultdict(dict)
        self._help: dict[str, tuple[str, str]] = {}
        self._gauges: dict[str, Callable[[], dict[Labels, float]]] = {}

    def inc(self, name: str, help_text: str, value: float = 1.0, **labels: str) -> None:
        """Add to a counter."""
        with self._lock:
            self._help.setdefault(name, ("counter", help_text))
            self._counters[name][_labels(**labels)] += value

    def observe(self, name: str, help_text: str, seconds: float, **labels: str) -> None:
        """Record one latency in a histogram."""
        key = _labels(**labels)
        with self._lock:
            self._help.setdefault(name, ("histogram", help_text))
            # per bucket counts, then sum, then count
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

    def render(self) -> str:
        """The Prometheus text exposition format."""
        lines: list[str] = []
        with self._lock:
            counters = {k: dict(v) for k, v in self._counters.items()}
            hists = {k: {lk: list(lv) for lk, lv in v.items()} for k, v in self._hist.items()}
            gauges = dict(self._gauges)
            helps = dict(self._help)
        for name, (kind, text) in sorted(helps.items()):
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            if kind == "counter":
                lines += [f"{name}{_fmt(k)} {v:g}" for k, v in sorted(counters.get(name, {}).items())]
            elif kind == "gauge":
                lines += [f"{name}{_fmt(k)} {v:g}" for k, v in sorted(gauges[name]().items())]
            else:
                for key, row in sorted(hists.get(name, {}).items()):
                    for bound, count in zip(LATENCY_BUCKETS_S, row, strict=False):
                        le = 'le="' + f"{bound:g}" + '"'
                        lines.append(f"{name}_bucket{_fmt(key, le)} {count:g}")
                    inf = 'le="+Inf"'
                    lines.append(f"{name}_bucket{_fmt(key, inf)} {row[-1]:g}")
                    lines.append(f"{name}_sum{_fmt(key)} {row[-2]:.6f}")
                    lines.append(f"{name}_count{_fmt(key)} {row[-1]:g}")
        return "\n".join(lines) + "\n"


def labels(**values: str) -> Labels:
    """Label tuple for gauge readers."""
    return _labels(**values)
