"""A listening socket bound before anything says it serves: ``eat inbox`` and ``--metrics-port``.

::

    sock = listen("127.0.0.1", 8765, taken="port {port} on {host} is taken",
                  refused="cannot listen on {host}:{port}: {reason}")

Binding first, in the command, is what lets a taken port be one line and exit 8 before any
"serving on" line (``PortInUse``), and lets ``--metrics-port 0`` say which port it got.
"""

from __future__ import annotations

import errno
import socket

from evolving_agents.errors import ConfigurationError, PortInUse

BACKLOG = 2048  # uvicorn's default


def listen(host: str, port: int, *, taken: str, refused: str) -> socket.socket:
    """A listening socket on ``host:port``; ``PortInUse`` saying ``taken`` when the port is
    taken, else ``ConfigurationError`` saying ``refused`` (each formatted with ``host``,
    ``port`` and, for ``refused``, the system's ``reason``)."""
    try:
        return _bound(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(taken.format(host=host, port=port), host=host, port=port) from None
        reason = exc.strerror or str(exc)
        raise ConfigurationError(refused.format(host=host, port=port, reason=reason)) from None


def _bound(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn binds its own: a port left in TIME_WAIT by the last server is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock
