"""The health check before the switch: the candidate runs in a separate process with a timeout.

``ProcessHealthCheck(...)(candidate, previous)`` starts
``python -m edgeloop.agent.healthcheck CANDIDATE [--previous DIR] ...``; that process
runs ``edgeloop.agent.healthprobe.probe`` (load, compatibility, finite outputs, golden
samples, latency against the previous version) under the CPU-time and memory caps it
sets on itself with ``resource.setrlimit``, and prints one verdict line. A process that
dies (a signal: a crash, or the kernel enforcing a cap), exits without a verdict, or
runs past ``timeout_s`` (it is killed) is a reject whose reason says so.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import edgeloop
from edgeloop.agent.contract import Verdict
from edgeloop.backends import BackendConfig
from edgeloop.backends.config import parse_backend_config

MARK = "EDGELOOP-HEALTH "


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class ProcessHealthCheck:
    """A ``HealthCheck`` that runs the candidate in a child process.

    Args:
        timeout_s: wall-clock limit; the child is killed past it ("timed out after N s").
        max_latency_ratio: the candidate's median latency may be at most this times the previous
            version's, measured interleaved in the same process (None: no ratio check).
        max_latency_ms: an absolute budget for the median latency (None: none).
        backend: the settings the child runs the model with (default: ONNX Runtime on the CPU);
            use the serving processes' settings so latencies compare with theirs.
        runs: timed inferences per version (their median counts).
        cpu_limit_s: CPU seconds the child may use (RLIMIT_CPU: the kernel stops it with SIGXCPU,
            then SIGKILL); None: ``timeout_s`` times the number of cores.
        memory_limit_mb: address space the child may map (RLIMIT_AS); None: no cap.
        min_latency_delta_ms: slowdowns smaller than this never fail the ratio (timer noise on
            tiny models).
        require_samples: reject bundles without golden samples.
    """

    def __init__(
        self,
        timeout_s: float = 60.0,
        max_latency_ratio: float | None = 3.0,
        max_latency_ms: float | None = None,
        backend: BackendConfig | Mapping[str, Any] | str | None = None,
        runs: int = 7,
        cpu_limit_s: float | None = None,
        memory_limit_mb: int | None = None,
        min_latency_delta_ms: float = 1.0,
        require_samples: bool = False,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_latency_ratio = max_latency_ratio
        self.max_latency_ms = max_latency_ms
        self.backend = None if backend is None else parse_backend_config(backend)
        self.runs = runs
        self.cpu_limit_s = cpu_limit_s if cpu_limit_s is not None else timeout_s * (os.cpu_count() or 1)
        self.memory_limit_mb = memory_limit_mb
        self.min_latency_delta_ms = min_latency_delta_ms
        self.require_samples = require_samples

    def command(self, candidate: Path, previous: Path | None) -> list[str]:
        """The child's command line."""
        cmd = [sys.executable, "-m", "edgeloop.agent.healthcheck", str(candidate), "--runs", str(self.runs)]
        if previous is not None:
            cmd += ["--previous", str(previous)]
        if self.max_latency_ratio is not None:
            cmd += ["--max-latency-ratio", repr(self.max_latency_ratio)]
        if self.max_latency_ms is not None:
            cmd += ["--max-latency-ms", repr(self.max_latency_ms)]
        cmd += ["--min-latency-delta-ms", repr(self.min_latency_delta_ms)]
        cmd += ["--cpu-limit-s", repr(self.cpu_limit_s)]
        if self.memory_limit_mb is not None:
            cmd += ["--memory-limit-mb", str(self.memory_limit_mb)]
        if self.backend is not None:
            cmd += ["--backend", self.backend.model_dump_json()]
        if self.require_samples:
            cmd.append("--require-samples")
        return cmd

    def __call__(self, candidate: Path, previous: Path | None) -> Verdict:
        env = dict(os.environ)
        package_root = str(Path(edgeloop.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        try:
            proc = subprocess.Popen(
                self.command(candidate, previous),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # its own process group: a timeout kills it and anything it started
            )
        except OSError as exc:
            return Verdict(False, f"health check process could not start: {exc}", {})
        try:
            out, err = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
            proc.communicate()
            return Verdict(
                False,
                f"health check timed out after {self.timeout_s:g} s (killed)",
                {"timeout_s": self.timeout_s},
            )
        return self._verdict(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def _verdict(self, code: int, out: str, err: str) -> Verdict:
        last_err = next((line.strip() for line in reversed(err.splitlines()) if line.strip()), "")
        detail: dict[str, Any] = {"exit_code": code}
        if code < 0:
            name = _signal_name(-code)
            why = {"SIGXCPU": f" (CPU time limit of {self.cpu_limit_s:g} s)"}.get(name, "")
            return Verdict(
                False, f"health check process died with {name}{why}", detail | {"stderr": last_err[:300]}
            )
        lines = [line[len(MARK) :] for line in out.splitlines() if line.startswith(MARK)]
        if not lines:
            tail = f": {last_err[:300]}" if last_err else ""
            return Verdict(
                False, f"health check process exited with code {code} and no verdict{tail}", detail
            )
        try:
            doc = json.loads(lines[-1])
            verdict = Verdict(bool(doc["ok"]), str(doc.get("reason", "")), dict(doc.get("detail") or {}))
        except (ValueError, KeyError, TypeError) as exc:
            return Verdict(False, f"health check process gave an unreadable verdict: {exc}", detail)
        if verdict.ok and code != 0:
            return Verdict(False, f"health check process exited with code {code} after passing", detail)
        return verdict


def _cap(kind: int, soft: int, grace: int = 0) -> None:
    """Lower a resource limit of this process (the hard limit ``grace`` above, where none was set)."""
    import resource

    _, hard = resource.getrlimit(kind)
    if hard == resource.RLIM_INFINITY:
        resource.setrlimit(kind, (soft, soft + grace))
    else:
        resource.setrlimit(kind, (min(soft, hard), hard))


def main(argv: list[str] | None = None) -> int:
    """The child: set the caps, probe, print ``MARK + json``; exit 0 with a verdict, 2 on bad arguments."""
    parser = argparse.ArgumentParser(prog="python -m edgeloop.agent.healthcheck")
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--previous", type=Path)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-latency-ratio", type=float)
    parser.add_argument("--max-latency-ms", type=float)
    parser.add_argument("--min-latency-delta-ms", type=float, default=1.0)
    parser.add_argument("--cpu-limit-s", type=float)
    parser.add_argument("--memory-limit-mb", type=int)
    parser.add_argument("--backend", help="backend settings as JSON")
    parser.add_argument("--require-samples", action="store_true")
    args = parser.parse_args(argv)
    import resource

    if args.cpu_limit_s is not None:
        _cap(resource.RLIMIT_CPU, max(1, int(args.cpu_limit_s + 0.999)), grace=5)
    if args.memory_limit_mb is not None:
        _cap(resource.RLIMIT_AS, args.memory_limit_mb << 20)
    from edgeloop.agent.healthprobe import ProbeLimits, probe

    backend = parse_backend_config(json.loads(args.backend)) if args.backend else None
    limits = ProbeLimits(
        max_latency_ratio=args.max_latency_ratio,
        max_latency_ms=args.max_latency_ms,
        min_latency_delta_ms=args.min_latency_delta_ms,
        runs=args.runs,
        require_samples=args.require_samples,
    )
    verdict = probe(args.candidate, args.previous, backend, limits)
    doc = {"ok": verdict.ok, "reason": verdict.reason, "detail": verdict.detail}
    sys.stdout.write(MARK + json.dumps(doc) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
