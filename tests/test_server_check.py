"""The ClearML server check fails in seconds with one clear message (loopback servers only)."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from balldet.synth.inventory import synth_dataset_id
from balldet.errors import TrackingError
from balldet.settings import load_settings
from balldet.tracking.server import ServerConfig, api_overrides, check_server, resolve_server

KEY, SECRET = "TESTACCESSKEY", "test-secret"


def _settings(timeout: float = 2.0):
    return load_settings("remote_debug").model_copy(update={"server_timeout_s": timeout})


def _server(host: str) -> ServerConfig:
    return ServerConfig(api_host=host, access_key=KEY, secret_key=SECRET, auth_token="", configured=True)


def _expect_error(server: ServerConfig, *fragments: str, timeout: float = 2.0) -> TrackingError:
    started = time.monotonic()
    with pytest.raises(TrackingError) as info:
        check_server(_settings(timeout), server)
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"the check took {elapsed:.1f} s"
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "fix:" in message
    assert info.value.exit_code == 3
    return info.value


@pytest.fixture
def refusing_port() -> int:
    """A loopback port nobody listens on: bound, read, closed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback server that accepts connections and never answers (stops by itself after 15 s)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(15)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        deadline = time.monotonic() + 15
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)  # keep it open, say nothing

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        for conn in held:
            conn.close()
        listener.close()


def _http_server(login_status: int) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, status: int) -> None:
            body = b'{"meta": {}, "data": {}}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(200 if self.path.startswith("/debug.ping") else 404)

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/auth.login"):
                self._answer(login_status if self.headers.get("Authorization", "").startswith("Basic ") else 400)
            else:
                self._answer(404)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def rejecting_server() -> Iterator[str]:
    yield from _http_server(401)


@pytest.fixture
def accepting_server() -> Iterator[str]:
    yield from _http_server(200)


def test_refused_connection(refusing_port: int) -> None:
    _expect_error(_server(f"http://127.0.0.1:{refusing_port}"), "connection refused", str(refusing_port))


def test_server_that_never_answers(silent_port: int) -> None:
    _expect_error(_server(f"http://127.0.0.1:{silent_port}"), "timed out after 1.5 s", timeout=1.5)


def test_unresolvable_host() -> None:
    # .invalid never resolves (RFC 2606); the test suite's network guard also refuses the lookup.
    _expect_error(_server("http://clearml-api.invalid:8008"), "cannot resolve host", "clearml-api.invalid")


def test_rejected_credentials(rejecting_server: str) -> None:
    _expect_error(_server(rejecting_server), "rejected the credentials", "HTTP 401")


def test_server_that_answers(accepting_server: str) -> None:
    started = time.monotonic()
    assert check_server(_settings(), _server(accepting_server)).api_host == accepting_server
    assert time.monotonic() - started < 10


def test_missing_configuration() -> None:
    server = ServerConfig(api_host="https://api.clear.ml", access_key="", secret_key="", auth_token="", configured=False)
    error = _expect_error(server, "not configured", "clearml-init", "CLEARML_API_HOST", "local_debug")
    assert error.exit_code == 3


def test_missing_credentials(refusing_port: int) -> None:
    server = ServerConfig(f"http://127.0.0.1:{refusing_port}", "", "", "", configured=True)
    _expect_error(server, "no credentials", "CLEARML_API_ACCESS_KEY")


def test_resolve_reads_clearml_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEARML_API_HOST", "http://127.0.0.1:9/")
    monkeypatch.setenv("CLEARML_API_ACCESS_KEY", KEY)
    monkeypatch.setenv("CLEARML_API_SECRET_KEY", SECRET)
    server = resolve_server()
    assert (server.api_host, server.access_key, server.secret_key, server.configured) == (
        "http://127.0.0.1:9", KEY, SECRET, True
    )


def test_api_overrides_keep_retries_low() -> None:
    retries = api_overrides()["api"]["http"]["retries"]
    assert retries["total"] <= 3 and retries["connect"] <= 3 and retries["backoff_max"] <= 5


def clearml_env(tmp_path: Path, host: str) -> dict[str, str]:
    """clearml pointed at ``host`` with test credentials, the user's clearml.conf not read."""
    return {
        "CLEARML_CONFIG_FILE": str(tmp_path / "no-clearml.conf"),
        "CLEARML_API_HOST": host,
        "CLEARML_WEB_HOST": host,
        "CLEARML_FILES_HOST": host,
        "CLEARML_API_ACCESS_KEY": KEY,
        "CLEARML_API_SECRET_KEY": SECRET,
    }


@pytest.mark.parametrize("env_name", ["local_main", "remote_debug"])
def test_cli_run_fails_fast_without_server(workspace, tmp_path: Path, refusing_port: int, env_name: str) -> None:
    dataset = synth_dataset_id("20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01-001", "1.0.0")
    workspace.write_config("tiny.yaml", {
        "tags": ["ball"], "model_type": "yolov5", "train_data": {"datasets": [dataset]},
        "val_data": {"datasets": [dataset]}, "test_data": {"datasets": [dataset]},
        "train_config": {"epochs": 1},
    })
    host = f"http://127.0.0.1:{refusing_port}"
    started = time.monotonic()
    result = workspace.cli(
        "run", "--config_name", "tiny.yaml", "--model_type", "yolov5", "--project", "t",
        env_name=env_name, timeout=60, BALLDET_SERVER_TIMEOUT_S="2", **clearml_env(tmp_path, host),
    )
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"balldet run took {elapsed:.1f} s"
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "connection refused" in result.stderr and str(refusing_port) in result.stderr
    assert not (workspace.cache / "clearml").exists() or not any((workspace.cache / "clearml").rglob("task.json"))
    assert not any(workspace.outputs.iterdir()), "no run folder may be created"
