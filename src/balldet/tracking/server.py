"""Checking the ClearML server in seconds, before anything relies on it.

With an unreachable server clearml itself retries for hours (240 retries, backoff up to 120 s).
:func:`check_server` reads the api host and credentials the way clearml does (its config object and
the ``CLEARML_API_*`` variables, without opening a session), pings ``{api}/debug.ping`` once with a
short socket timeout and logs in once with the credentials. Each failure is one
:class:`~balldet.errors.TrackingError` naming the problem and the fix.

:func:`api_overrides` returns the clearml config overrides that keep clearml's own retries low for
the process, so a server that goes away later fails in seconds too.
"""

from __future__ import annotations

import base64
import errno
import http.client
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from balldet.errors import TrackingError
from balldet.settings import Settings
from balldet.tracking import clearml_compat

OFFLINE_FIX = "or run offline with ENV_FOR_DYNACONF=local_debug"
CONFIGURE_FIX = (
    "run `clearml-init` to write ~/clearml.conf, or set CLEARML_API_HOST, CLEARML_API_ACCESS_KEY and "
    f"CLEARML_API_SECRET_KEY (and CLEARML_WEB_HOST, CLEARML_FILES_HOST); {OFFLINE_FIX}"
)


@dataclass(frozen=True)
class ServerConfig:
    """Where clearml would connect and with what; ``configured`` is false when nothing was set."""

    api_host: str
    access_key: str
    secret_key: str
    auth_token: str
    configured: bool


def api_overrides(retries: int = 2, backoff_max: float = 2.0) -> dict[str, Any]:
    """clearml config overrides (``api.http.retries.*``) that make clearml fail in seconds.

    ``ConfigWrapper.set_overrides`` replaces the whole override list, so merge this dict with the
    other overrides of the process and set them in one call.
    """
    return {
        "api": {
            "http": {
                "retries": {
                    "total": retries,
                    "connect": retries,
                    "read": retries,
                    "redirect": retries,
                    "status": retries,
                    "backoff_factor": 0.5,
                    "backoff_max": backoff_max,
                },
                "wait_on_maintenance_forever": False,
            }
        }
    }


def resolve_server(config: Any = None) -> ServerConfig:
    """The api host and credentials as clearml resolves them: environment first, then clearml.conf
    (``config``: clearml's configuration object, read from clearml.conf when not given; no network)."""
    if config is None:
        config = clearml_compat.read_config()
    environment = clearml_compat.api_variables()
    access_key = environment["access_key"] or config.get("api.credentials.access_key", None) or ""
    secret_key = environment["secret_key"] or config.get("api.credentials.secret_key", None) or ""
    auth_token = environment["auth_token"]
    host_set = bool(environment["host"] or config.get("api.api_server", None) or config.get("api.host", None))
    api_host = clearml_compat.api_server_host(config)
    configured = host_set or bool(access_key or secret_key or auth_token)
    return ServerConfig(api_host.rstrip("/"), str(access_key), str(secret_key), str(auth_token), configured)


def check_server(settings: Settings, server: ServerConfig | None = None) -> ServerConfig:
    """Raise :class:`TrackingError` unless the ClearML server answers and accepts the credentials."""
    server = server if server is not None else resolve_server()
    if not server.configured:
        raise TrackingError(
            f"ClearML is not configured for the settings environment {settings.env} "
            "(no clearml.conf and no CLEARML_API_HOST / credentials)",
            fix=CONFIGURE_FIX,
        )
    if not server.auth_token and not (server.access_key and server.secret_key):
        raise TrackingError(
            f"ClearML has no credentials for {server.api_host} (access key or secret key missing)",
            fix="run `clearml-init`, or set CLEARML_API_ACCESS_KEY and CLEARML_API_SECRET_KEY "
            f"(create them in the web app: Settings > Workspace); {OFFLINE_FIX}",
        )
    timeout = float(settings.server_timeout_s)
    _ping(server.api_host, timeout)
    _login(server, timeout)
    return server


def _ping(api_host: str, timeout: float) -> None:
    url = f"{api_host}/debug.ping"
    try:
        status, _ = _request("GET", url, timeout=timeout)
    except _Unreachable as exc:
        raise TrackingError(f"{exc} (ClearML api server {api_host})", fix=_reach_fix(api_host)) from None
    if status >= 400:
        raise TrackingError(
            f"the ClearML api server {api_host} answered {url} with HTTP {status}; is it a ClearML api server?",
            fix=_reach_fix(api_host),
        )


def _login(server: ServerConfig, timeout: float) -> None:
    url = f"{server.api_host}/auth.login"
    if server.auth_token:
        headers = {"Authorization": f"Bearer {server.auth_token}"}
    else:
        pair = f"{server.access_key}:{server.secret_key}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    try:
        status, _ = _request("POST", url, timeout=timeout, headers=headers, body=b"{}")
    except _Unreachable as exc:
        raise TrackingError(f"{exc} (ClearML api server {server.api_host}, login)", fix=_reach_fix(server.api_host)) from None
    if status in (401, 403):
        raise TrackingError(
            f"the ClearML server {server.api_host} rejected the credentials (HTTP {status} on auth.login, "
            f"access key {server.access_key[:4] + '…' if server.access_key else '(token)'})",
            fix="create new credentials in the web app (Settings > Workspace) and put them in clearml.conf "
            f"(`clearml-init`) or CLEARML_API_ACCESS_KEY / CLEARML_API_SECRET_KEY; {OFFLINE_FIX}",
        )
    if status >= 400:
        raise TrackingError(
            f"the ClearML server {server.api_host} answered auth.login with HTTP {status}",
            fix=_reach_fix(server.api_host),
        )


def _reach_fix(api_host: str) -> str:
    return (
        f"start the ClearML server or correct api.api_server in clearml.conf / CLEARML_API_HOST "
        f"(now {api_host}); {OFFLINE_FIX}"
    )


class _Unreachable(Exception):
    """The server cannot be reached; the message says how."""


def _request(
    method: str, url: str, *, timeout: float, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, bytes]:
    """One HTTP request, no retries, no proxies; (status, first bytes of the body)."""
    request = urllib.request.Request(url, data=body, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc or url
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read(4096)
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except urllib.error.URLError as exc:
        raise _classify(exc.reason, host, timeout) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _classify(exc, host, timeout) from None
    except ValueError as exc:  # a malformed url
        raise _Unreachable(f"invalid ClearML api server address {url!r}: {exc}") from None


def _classify(reason: Any, host: str, timeout: float) -> _Unreachable:
    if isinstance(reason, socket.gaierror):
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return _Unreachable(f"cannot resolve host {name!r} ({reason.strerror or reason})")
    if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason):
        return _Unreachable(f"the ClearML server did not answer: timed out after {timeout:g} s")
    if isinstance(reason, ConnectionRefusedError) or getattr(reason, "errno", None) == errno.ECONNREFUSED:
        return _Unreachable(f"connection refused by {host} (nothing is listening there)")
    if isinstance(reason, http.client.HTTPException) or isinstance(reason, ConnectionError):
        return _Unreachable(f"the connection to {host} broke before an answer ({type(reason).__name__}: {reason})")
    return _Unreachable(f"cannot connect to {host}: {reason}")
