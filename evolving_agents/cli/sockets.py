"""A listening socket bound before anything says it serves: ``eat inbox`` and ``--metrics-port``.

::

    sock = listen("127.0.0.1", 8765)    # OSError if it cannot be had: taken, refused

Binding first, in the command, is what lets a taken port be one line and exit 8 before any
"serving on" line (``PortInUse``), and lets ``--metrics-port 0`` say which port it got.
"""

from __future__ import annotations

import socket

BACKLOG = 2048  # uvicorn's default


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``OSError`` if it cannot be had: taken, refused)."""
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
