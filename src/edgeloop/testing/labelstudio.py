"""A real Label Studio server on a loopback port, for tests and the round-trip script.

Label Studio lives in its own virtual environment (``make .venv-labelstudio/.installed``:
``label-studio`` 1.23, about 1 GB), never beside edgeloop. ``labelstudio_server``
starts it offline on a free loopback port with a throw-away data folder, an API
token of its own and local-files serving under ``document_root`` (the recipe in
FACTS.md), waits until ``/health`` answers and the token is accepted (so it never
talks to another Label Studio that took the port), and stops it again. The first
start on an empty data folder takes 45-55 s (database migrations); ``LabelStudio``
has the few API calls a labelling round trip needs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VENV = ".venv-labelstudio"
INSTALL = "make .venv-labelstudio/.installed (label-studio 1.23 in its own venv, about 1 GB, 2 min)"


class LabelStudioError(RuntimeError):
    """Label Studio did not start or answered an API call with an error."""


def find_label_studio(root: Path | None = None) -> Path | None:
    """The ``label-studio`` executable of ``$EDGELOOP_LABEL_STUDIO_VENV`` or ``ROOT/.venv-labelstudio``."""
    venv = os.environ.get("EDGELOOP_LABEL_STUDIO_VENV")
    folder = Path(venv) if venv else (root or Path.cwd()) / VENV
    executable = folder / "bin" / "label-studio"
    installed = venv or (folder / ".installed").is_file()
    return executable if executable.is_file() and installed else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LabelStudio:
    """A running Label Studio: its URL, API token, and the calls a round trip needs."""

    url: str
    token: str
    document_root: Path
    data_dir: Path
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API; the decoded JSON (None for an empty body)."""
        import httpx

        response = httpx.request(method, self.url + path, headers=self.headers, timeout=60, **kwargs)
        if response.status_code >= 400:
            raise LabelStudioError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def get_bytes(self, path: str) -> bytes:
        """GET a URL path (e.g. a task's image) as bytes."""
        import httpx

        response = httpx.get(self.url + path, headers=self.headers, timeout=60)
        if response.status_code >= 400:
            raise LabelStudioError(f"GET {path}: {response.status_code}")
        return response.content

    def create_project(self, title: str, label_config: str) -> int:
        """A new project with this labelling interface; its id."""
        return int(
            self.api("POST", "/api/projects", json={"title": title, "label_config": label_config})["id"]
        )

    def add_local_storage(self, project: int, folder: Path) -> int:
        """Let the project serve files under ``folder`` (inside the document root) as local files."""
        body = {"project": project, "path": str(folder), "use_blob_urls": False, "title": folder.name}
        return int(self.api("POST", "/api/storages/localfiles", json=body)["id"])

    def import_tasks(self, project: int, tasks: list[dict[str, Any]]) -> None:
        """Import tasks (with ``predictions`` as pre-annotations)."""
        self.api("POST", f"/api/projects/{project}/import", json=tasks)

    def tasks(self, project: int) -> list[dict[str, Any]]:
        """The project's tasks, by id."""
        listed = self.api("GET", f"/api/tasks?project={project}&page_size=10000")
        found = listed["tasks"] if isinstance(listed, dict) else listed
        return sorted(found, key=lambda t: int(t["id"]))

    def predictions(self, project: int) -> list[dict[str, Any]]:
        """The project's predictions (each with ``task``, ``result``, ``model_version``)."""
        return list(self.api("GET", f"/api/predictions?project={project}"))

    def annotate(self, task: int, result: list[dict[str, Any]], prediction: int | None = None) -> int:
        """Submit an annotation (optionally made from a prediction); its id."""
        body: dict[str, Any] = {"result": result}
        if prediction is not None:
            body["parent_prediction"] = prediction
        return int(self.api("POST", f"/api/tasks/{task}/annotations", json=body)["id"])

    def export(self, project: int, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        """The project's JSON export with full annotations and predictions (not prediction ids only)."""
        body = {"title": "edgeloop", "serialization_options": {"predictions": {"only_id": False}}}
        created = self.api("POST", f"/api/projects/{project}/exports", json=body)
        deadline = time.monotonic() + timeout_s
        while created.get("status") not in ("completed", "failed"):
            if time.monotonic() > deadline:
                raise LabelStudioError(f"export {created.get('id')} still {created.get('status')}")
            time.sleep(0.5)
            created = self.api("GET", f"/api/projects/{project}/exports/{created['id']}")
        if created["status"] == "failed":
            raise LabelStudioError(f"export {created['id']} failed; see {self.log}")
        path = f"/api/projects/{project}/exports/{created['id']}/download?exportType=JSON"
        return list(self.api("GET", path))


def _env(data_dir: Path, document_root: Path, token: str) -> dict[str, str]:
    return {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_USERNAME": "edgeloop@example.com",
        "LABEL_STUDIO_PASSWORD": secrets.token_urlsafe(16),
        "LABEL_STUDIO_USER_TOKEN": token,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LATEST_VERSION_CHECK": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(document_root),
    }


def _wait_ready(server: LabelStudio, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    ours = f"server at {server.url}/"  # Label Studio moves to the next port silently when ours is busy
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabelStudioError(f"label-studio exited with {process.returncode}; see {server.log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                mine = httpx.get(server.url + "/api/projects", headers=server.headers, timeout=10)
                log = server.log.read_text(errors="replace")
                if mine.status_code == 200 and ours in log:
                    return
                if "Starting development server at" in log and ours not in log:
                    raise LabelStudioError(f"label-studio took another port than {server.url}; retry")
        time.sleep(0.5)
    raise LabelStudioError(f"label-studio not ready after {timeout_s:.0f} s; see {server.log}")


def _start(
    executable: Path, folder: Path, document_root: Path, token: str
) -> tuple[LabelStudio, subprocess.Popen[bytes]]:
    port = free_port()
    server = LabelStudio(f"http://127.0.0.1:{port}", token, document_root.resolve(), folder, folder / "log")
    command = [str(executable), "start", "--port", str(port), "--internal-host", "127.0.0.1", "--no-browser"]
    env = _env(folder / "data", server.document_root, token)
    with server.log.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True
        )
    return server, process


def template(executable: Path, timeout_s: float = 600.0) -> tuple[Path, str]:
    """A migrated, empty Label Studio data folder and its API token, made once per venv.

    Made under a lock by starting Label Studio on an empty folder and stopping it once ready.
    """
    venv = executable.parent.parent
    folder = venv / "edgeloop-template"
    with (venv / "edgeloop-template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "token").is_file():
            return folder / "data", (folder / "token").read_text().strip()
        work = Path(tempfile.mkdtemp(prefix="edgeloop-template.", dir=venv))
        try:
            token = secrets.token_hex(20)
            (work / "docroot").mkdir()
            server, process = _start(executable, work, work / "docroot", token)
            try:
                _wait_ready(server, process, timeout_s)
            finally:
                _stop(process)
            (work / "token").write_text(token)
            os.replace(work, folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return folder / "data", token


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and its children (its own process group, started by us)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@contextlib.contextmanager
def labelstudio_server(
    document_root: Path,
    executable: Path | None = None,
    data_dir: Path | None = None,
    startup_timeout_s: float = 240.0,
) -> Iterator[LabelStudio]:
    """Run Label Studio on a free loopback port until the block ends.

    Args:
        document_root: the local-files document root (local storages must lie under it).
        executable: ``label-studio`` (default: ``find_label_studio()``).
        data_dir: a folder for its data (default: a temporary folder, removed afterwards).
    """
    executable = executable or find_label_studio()
    if executable is None:
        raise LabelStudioError(f"Label Studio is not installed: {INSTALL}")
    data, token = template(executable)
    own_dir = data_dir is None
    folder = Path(tempfile.mkdtemp(prefix="edgeloop-labelstudio-")) if data_dir is None else data_dir
    shutil.copytree(data, folder / "data")
    server, process = _start(executable, folder, document_root, token)
    try:
        _wait_ready(server, process, startup_timeout_s)
        yield server
    finally:
        _stop(process)
        if own_dir:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m edgeloop.testing.labelstudio prepare``: make the template data folder now
    (``make test`` runs it while the other environments install, so no test waits for it)."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["prepare"]:
        print("usage: python -m edgeloop.testing.labelstudio prepare", file=sys.stderr)
        return 2
    executable = find_label_studio()
    if executable is None:
        print(f"Label Studio is not installed: {INSTALL}", file=sys.stderr)
        return 1
    data, _ = template(executable)
    print(f"Label Studio template ready: {data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
