"""A wheel of the edgeloop that is running, for images and venvs built elsewhere.

edgeloop is pure Python but for one optional C extension (left out here), so its
wheel is a zip of the package folder plus the
installed distribution's metadata. Building it this way needs no network, no
build backend and no source checkout: it works the same for a PyPI install and
for an editable one, and the same files give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from importlib import metadata
from pathlib import Path

from edgeloop.errors import DeployError

# Fixed timestamps make the wheel reproducible (zip cannot store dates before 1980).
_EPOCH = (1980, 1, 1, 0, 0, 0)


# Bytecode, and the optional C kernels (built per platform; a pure wheel cannot carry them:
# the device then resizes with OpenCV, which the images install, and gives the same pixels).
_NOT_PURE = {".pyc", ".pyo", ".so", ".pyd", ".c"}


def _files(package_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in package_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in _NOT_PURE
    )


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(dest_dir: Path) -> Path:
    """Write ``edgeloop-VERSION-py3-none-any.whl`` into ``dest_dir`` and return its path.

    Raises:
        DeployError: edgeloop's distribution metadata is missing (not installed with pip).
    """
    import edgeloop

    try:
        dist = metadata.distribution("edgeloop")
    except metadata.PackageNotFoundError:
        raise DeployError(
            "edgeloop is not installed as a package, so its wheel cannot be built: "
            "run `pip install -e .` in the source folder (or `pip install edgeloop`)"
        ) from None
    meta = dist.read_text("METADATA")
    if not meta:
        raise DeployError("edgeloop's installed metadata has no METADATA file: reinstall edgeloop")
    version = edgeloop.__version__
    info = f"edgeloop-{version}.dist-info"
    members: list[tuple[str, bytes]] = []
    package_dir = Path(edgeloop.__file__).parent
    for path in _files(package_dir):
        members.append(("edgeloop/" + path.relative_to(package_dir).as_posix(), path.read_bytes()))
    # The running code's version wins over the metadata's, in case they differ (editable installs).
    lines = [f"Version: {version}" if line.startswith("Version: ") else line for line in meta.splitlines()]
    members.append((f"{info}/METADATA", ("\n".join(lines) + "\n").encode()))
    wheel_info = "Wheel-Version: 1.0\nGenerator: edgeloop deploy\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    members.append((f"{info}/WHEEL", wheel_info.encode()))
    entry_points = dist.read_text("entry_points.txt")
    if entry_points:
        members.append((f"{info}/entry_points.txt", entry_points.encode()))
    record = [f"{name},{_digest(data)},{len(data)}" for name, data in members]
    record.append(f"{info}/RECORD,,")
    members.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))

    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / f"edgeloop-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            entry = zipfile.ZipInfo(name, date_time=_EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, data)
    return out
