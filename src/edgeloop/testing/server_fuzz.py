"""Fuzz a real ``edgeloop serve`` process through its OpenAPI spec (schemathesis), then with images.

``run`` starts the server on a loopback port, warms it up, sends requests that
schemathesis generates from ``/openapi.json`` for every operation (valid and
invalid path, query, header and body values), then uploads mutated image files
(``image_fuzz``) to the model's predict route. The contract: no 5xx response,
every request answered, no traceback on the server's stderr, and the server's
RSS at most 100 MB above its value after warm-up (``Report.rss_growth_mb``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.testing.openapi_bodies import spec_with_bodies

WARMUP_REQUESTS = 30


@dataclass
class Report:
    """What one fuzzing run sent and saw."""

    schema_requests: int = 0
    image_requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    tracebacks: int = 0
    rss_warm_mb: float = 0.0
    rss_end_mb: float = 0.0
    operations: int = 0
    transport_errors: list[str] = field(default_factory=list)
    exit_code: int | None = None
    by_route: dict[str, dict[int, int]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """A 5xx, a request without a response, a traceback on stderr or the server gone (RSS aside)."""
        return bool(
            self.server_errors or self.transport_errors or self.tracebacks or self.exit_code is not None
        )

    @property
    def requests(self) -> int:
        return self.schema_requests + self.image_requests

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_warm_mb

    def record(self, label: str, status: int, body: str, route: str = "") -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        counts = self.by_route.setdefault(route or label, {})
        counts[status] = counts.get(status, 0) + 1
        if status >= 500:
            self.server_errors.append(f"{label} -> {status}: {body[:300]}")


class ServerGone(RuntimeError):
    """The server process exited during the run."""


def _lost(report: Report, process: subprocess.Popen[bytes], label: str, exc: Exception) -> None:
    """Record a request that got no HTTP response; stop the run when the server has exited."""
    report.transport_errors.append(f"{label}: {type(exc).__name__}: {exc}")
    time.sleep(0.5)
    if process.poll() is not None:
        report.exit_code = process.returncode
        raise ServerGone(f"the server exited with code {process.returncode} after {label}")


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(bundle: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``edgeloop serve BUNDLE`` on a free loopback port; stderr goes to ``workdir/stderr.log``."""
    import httpx

    port = _free_port()
    command = [sys.executable, "-m", "edgeloop", "serve", str(bundle), "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--output-dir", str(workdir / "out")],
        stdout=(workdir / "stdout.log").open("wb"),
        stderr=(workdir / "stderr.log").open("wb"),
        cwd=workdir,
        env={**os.environ, "EDGELOOP_TOKEN": ""},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"edgeloop serve did not become ready: {(workdir / 'stderr.log').read_text()}")


def _strategies(operation: Any, model: str) -> list[Any]:
    """Valid and invalid cases for ``operation``; with the served model's name too, except where
    that would unload it (then every later request would only meet 404s)."""
    import schemathesis

    positive, negative = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
    names = {p.name for p in operation.path_parameters}
    unloads = operation.method.upper() == "DELETE" or operation.path.endswith("/unload")
    if "name" not in names or unloads:
        return [
            operation.as_strategy(generation_mode=positive),
            operation.as_strategy(generation_mode=negative),
        ]
    # A random model name only ever meets 404: spend the requests on the served model.
    pinned = {"name": model, **({"version": "1"} if "version" in names else {})}
    return [
        operation.as_strategy(generation_mode=positive, path_parameters=pinned),
        operation.as_strategy(generation_mode=negative, path_parameters=pinned),
        operation.as_strategy(generation_mode=negative),
    ]


def _schema_phase(
    url: str, model: str, total: int, seed: int, report: Report, process: subprocess.Popen[bytes]
) -> None:
    """Send about ``total`` schemathesis cases spread over every operation."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable
    from schemathesis.core.result import Err

    document = requests.get(f"{url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(spec_with_bodies(document, model))
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise RuntimeError(f"an operation in /openapi.json is invalid: {result.err()}")
        operations.append(result.ok())
    report.operations = len(operations)
    strategies = [s for operation in operations for s in _strategies(operation, model)]
    session = requests.Session()
    per_round = max(1, total // len(strategies))
    for round_index in range(50):  # strategies with few distinct cases run out: go round again
        for strategy in strategies:
            remaining = total - report.schema_requests
            if remaining <= 0:
                return

            @hypothesis_seed(seed + round_index)
            @settings(
                max_examples=min(per_round, remaining),
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def send(case: Any) -> None:
                label = f"{case.method} {case.formatted_path}"
                report.schema_requests += 1
                try:
                    response = case.call(base_url=url, session=session, timeout=30)
                except requests.RequestException as exc:
                    _lost(report, process, label, exc)
                    return
                report.record(
                    label, response.status_code, response.text, f"{case.method} {case.operation.path}"
                )

            with contextlib.suppress(Unsatisfiable):  # e.g. no invalid value exists for /healthz
                send()


def _image_phase(
    url: str, model: str, total: int, seed: int, report: Report, process: subprocess.Popen[bytes]
) -> None:
    """POST ``total`` mutated image files to the model's predict route."""
    import httpx

    from edgeloop.testing.image_fuzz import cases

    with httpx.Client(base_url=url, timeout=30) as client:
        for description, data in cases(seed, total):
            report.image_requests += 1
            try:
                response = client.post(f"/v1/models/{model}/predict", content=data)
            except httpx.TransportError as exc:
                _lost(report, process, f"predict {description} ({len(data)} bytes)", exc)
                continue
            report.record(f"predict {description}", response.status_code, response.text, "images")


def _warm_up(url: str, model: str) -> None:
    import httpx

    from edgeloop.imaging import encode_jpeg
    from edgeloop.testing.image_fuzz import cases

    image = encode_jpeg(np.full((96, 128, 3), 128, np.uint8))
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(WARMUP_REQUESTS):
            client.post(f"/v1/models/{model}/predict", content=image)
            client.get("/v1/models")
        for _, data in cases(seed=1, count=WARMUP_REQUESTS):
            client.post(f"/v1/models/{model}/predict", content=data)


def run(
    bundle: Path, model: str, workdir: Path, schema_requests: int, image_requests: int, seed: int = 0
) -> Report:
    """Start a server on ``bundle``, fuzz it, stop it; the report has the counts and what broke."""
    workdir.mkdir(parents=True, exist_ok=True)
    process, url = start_server(bundle, workdir)
    report = Report()
    try:
        _warm_up(url, model)
        report.rss_warm_mb = rss_mb(process.pid)
        _schema_phase(url, model, schema_requests, seed, report, process)
        _image_phase(url, model, image_requests, seed, report, process)
        report.rss_end_mb = rss_mb(process.pid)
    except ServerGone:
        pass  # recorded in the report
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
    report.tracebacks = (workdir / "stderr.log").read_text(errors="replace").count("Traceback")
    return report
