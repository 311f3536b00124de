"""The server's listening socket, bound before anything says "serving"."""

from __future__ import annotations

import errno
import socket

from edgeloop.errors import ConfigError


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (not yet listening), for uvicorn to serve on.

    Binding first means a busy port is reported before the models load and
    before the server claims to be serving.

    Raises:
        ConfigError: the port is in use, needs privileges, or the host is not an address of this machine.
    """
    # IPv4 unless the host is an IPv6 address, as uvicorn decides ("localhost" -> 127.0.0.1).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host}: {exc.strerror}; check --host") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart without waiting
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(_bind_message(host, port, exc)) from None
    sock.set_inheritable(True)
    return sock


def _bind_message(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (another edgeloop serve?); stop that process "
            f"or pick a free port with --port"
        )
    if exc.errno == errno.EACCES:
        return f"port {port} on {host} needs more privileges (ports below 1024); use --port 1024 or above"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine; check --host (127.0.0.1, 0.0.0.0 or a local IP)"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}; check --host and --port"
