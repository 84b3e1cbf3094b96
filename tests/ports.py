"""Loopback ports for tests that start real servers."""

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now (the OS's pick; closed again before it is used)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
