"""Loaded by every Python subprocess the tests start (via PYTHONPATH): refuses any network access
outside loopback and records the attempt in $NETGUARD_LOG, so a test can assert none."""

import os
import socket

_LOG = os.environ.get("NETGUARD_LOG")
_LOCAL = ("127.", "::1", "localhost", "0.0.0.0")
# Hosts a test expects a third-party library to ask for (blocked all the same, not recorded), e.g.
# clearml's update check in a rendered pipeline step, which runs Task.init before balldet's code.
_EXPECTED = tuple(h for h in os.environ.get("NETGUARD_EXPECTED_HOSTS", "").split(",") if h)


def _is_local(host) -> bool:
    return host is None or str(host).startswith(_LOCAL) or str(host) == ""


def _record(what: str) -> None:
    if _LOG:
        with open(_LOG, "a") as handle:
            handle.write(what + "\n")


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
        _record(f"connect {address!r}")
        raise OSError(f"network access blocked by the test suite: {address!r}")
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
        _record(f"connect_ex {address!r}")
        return 111
    return _connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if not _is_local(name):
        # ".invalid" names are reserved never to resolve (RFC 2606): tests use them on purpose, and
        # the guard answers them here, so nothing leaves the machine. Anything else is recorded.
        if not str(name).rstrip(".").endswith(".invalid") and str(name) not in _EXPECTED:
            _record(f"getaddrinfo {host!r}")
        raise socket.gaierror(socket.EAI_NONAME, f"name lookup blocked by the test suite: {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo
