"""The OpenAI key never leaves the SDK client, end to end: a real ``python -m recengine embed`` process with a
distinctive fake key in OPENAI_API_KEY and the API pointed at a local port where nothing listens, every logger
(ours, the SDK's with OPENAI_LOG=debug, httpx's) writing to stderr at DEBUG.

tests/test_text_openai.py covers the rest against a fake service (wrong key, timeouts, rate limits, malformed
answers; messages, reprs, tracebacks, log records and cache files without the key); this adds the CLI's own
stderr and stdout, the SDK's debug logging and a real connection failure.
"""

from __future__ import annotations

import socket
from pathlib import Path

from .conftest import run_python, subprocess_env

FAKE_KEY = "sk-proj-QQrobust9KEYneverLEAK-7tZ3xW8vN2mR5pL"
PIECES = (FAKE_KEY, FAKE_KEY[8:30], FAKE_KEY[-12:])  # the whole key, its middle, its end

# Waiting between retries is the only thing replaced (before recengine binds it), so the process fails in seconds
# instead of after a minute of backoff; every request really goes to the closed port.
CLI = """
import logging, runpy, sys, time
time.sleep = lambda seconds: None
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
sys.argv = ["recengine", *sys.argv[1:]]
runpy.run_module("recengine", run_name="__main__")
"""


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_cli_never_shows_the_key_when_the_service_is_unreachable(tiny_data: Path, tmp_path: Path, home: Path):
    env = subprocess_env(OPENAI_API_KEY=FAKE_KEY, OPENAI_BASE_URL=f"http://127.0.0.1:{closed_port()}/v1",
                         OPENAI_LOG="debug")
    done = run_python(CLI, "embed", "--data", tiny_data, "--embedder", "openai", "--cache", tmp_path / "cache",
                      env=env, timeout=300)
    lines = [line for line in done.err.splitlines() if line.strip()]
    assert done.code == 2, done.err[-3000:]
    assert lines[-1].startswith("error: OpenAI embeddings failed after 7 attempts (last: connection failed)")
    assert "Traceback" not in done.err
    # It really talked to the port, with the SDK logging at debug level: there was something to leak.
    assert "retry 6 of 6" in done.err and any(line.startswith(("openai", "httpx", "httpcore")) for line in lines)
    for piece in PIECES:
        assert piece not in done.err and piece not in done.out
    for folder in (tmp_path, home):
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert not any(piece.encode() in data for piece in PIECES), path


def test_a_wrong_key_answered_by_a_server_is_one_line_without_the_key(tiny_data: Path, tmp_path: Path):
    """A local server that answers 401 and echoes the key, as OpenAI's does: exit 2, one line, no key."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Reject(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("content-length", 0)))
            key = self.headers.get("authorization", "").removeprefix("Bearer ")
            body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error",
                                         "code": "invalid_api_key"}}).encode()
            self.send_response(401)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Reject)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = subprocess_env(OPENAI_API_KEY=FAKE_KEY, OPENAI_BASE_URL=f"http://127.0.0.1:{server.server_port}/v1",
                             OPENAI_LOG="debug")
        done = run_python(CLI, "embed", "--data", tiny_data, "--embedder", "openai", "--cache", tmp_path / "cache",
                          env=env, timeout=300)
    finally:
        server.shutdown()
    lines = [line for line in done.err.splitlines() if line.strip()]
    assert done.code == 2 and lines[-1].startswith("error: OpenAI rejected the API key (HTTP 401)"), done.err[-3000:]
    assert "Traceback" not in done.err
    for piece in PIECES:
        assert piece not in done.err and piece not in done.out
