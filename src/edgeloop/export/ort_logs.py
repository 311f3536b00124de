"""Keep ONNX Runtime's Python tools (quantization, float16) from writing to the console.

Those tools log through the *root* logger (``logging.warning(...)``), e.g.
"Axis 1 is out-of-range for weight ... with rank 1" for every 1-D weight when
per-channel quantization is on. With no logging configured, the first such call
runs ``logging.basicConfig()``, which prints ``WARNING:root:...`` and leaves a
console handler on the root logger for the rest of the process.

``captured_onnxruntime_logs`` collects those records for the duration of a block
instead, restores the logging configuration exactly as it found it, and passes
the messages on at DEBUG level through ``edgeloop.export`` (visible to whoever
turns debug logging on).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

_LOG = logging.getLogger("edgeloop.export")


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.NOTSET)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _from_onnxruntime(record: logging.LogRecord) -> bool:
    return "onnxruntime" in Path(record.pathname).parts


@contextlib.contextmanager
def captured_onnxruntime_logs() -> Iterator[list[logging.LogRecord]]:
    """Collect what ONNX Runtime's Python code logs during the block (yields the list it fills).

    Records of other code pass through untouched. The root logger and the
    ``onnxruntime`` logger get back their handlers, filters and propagation afterwards.
    """
    records: list[logging.LogRecord] = []
    root, ort = logging.getLogger(), logging.getLogger("onnxruntime")

    def keep(record: logging.LogRecord) -> bool:
        if _from_onnxruntime(record):
            records.append(record)
            return False
        return True

    # A root logger without handlers would run basicConfig() on the first logging.warning().
    placeholder = logging.NullHandler() if not root.handlers else None
    collect, propagate = _Collect(records), ort.propagate
    if placeholder is not None:
        root.addHandler(placeholder)
    root.addFilter(keep)
    ort.addHandler(collect)
    ort.propagate = False
    try:
        yield records
    finally:
        ort.propagate = propagate
        ort.removeHandler(collect)
        root.removeFilter(keep)
        if placeholder is not None:
            root.removeHandler(placeholder)
        for record in records:
            _LOG.debug("onnxruntime %s: %s", record.levelname.lower(), record.getMessage())


__all__ = ["captured_onnxruntime_logs"]
