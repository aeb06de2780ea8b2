"""What the HTTP benchmarks share: the server as a subprocess, a copy of a workspace's store, two small clients.

- :class:`Server` starts ``python -m recengine serve`` on a free loopback port with its own ``RECENGINE_HOME``,
  waits for ``/health`` and stops it with SIGINT (uvicorn's graceful shutdown), SIGKILL after a grace period.
- :class:`Client` is a blocking keep-alive client over :mod:`http.client` (JSON in, JSON out) for sequential
  traffic and checks.
- :class:`Connection` is a minimal asyncio HTTP/1.1 keep-alive connection over raw streams, for load: on a
  2-core machine a heavy client library would take the CPU the server is being measured on.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def copy_store(source: Path, home: Path) -> Path:
    """Copy the SQLite store ``source`` into ``home`` with SQLite's backup API (consistent even while another
    process writes it); returns the copy's path."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / source.name
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


class Server:
    """``python -m recengine serve ARGS --host 127.0.0.1 --port FREE`` with RECENGINE_HOME=``home``; a context
    manager that waits for ``/health`` on entry and stops the server on exit. Its output goes to ``log``."""

    def __init__(self, home: Path, args: list[str], *, log: Path | None = None, ready_timeout: float = 300.0):
        self.home = Path(home)
        self.args = list(args)
        self.log = Path(log) if log else self.home / "serve.log"
        self.ready_timeout = ready_timeout
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> "Server":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        env = {**os.environ, "RECENGINE_HOME": str(self.home), "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "recengine", "serve", *self.args, "--host", HOST, "--port", str(self.port)]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                            env=env, cwd=REPO)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with status {self.process.returncode}:\n{self.log_tail()}")
            try:
                with Client(self.port, timeout=2.0) as client:
                    if client.get("/health")[0] == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer /health within {self.ready_timeout:g} s:\n{self.log_tail()}")

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGINT, then SIGKILL after ``grace`` seconds; returns the exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Client:
    """A blocking keep-alive JSON client to ``127.0.0.1:port`` (reconnects once when the server closed it)."""

    def __init__(self, port: int, timeout: float = 60.0):
        self.port = port
        self.timeout = timeout
        self._conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def get(self, path: str) -> tuple[int, object]:
        return self.request("GET", path)

    def post(self, path: str, body: object) -> tuple[int, object]:
        return self.request("POST", path, body)

    def request(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        """(status, parsed JSON body, or the text when it is not JSON)."""
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        for attempt in (0, 1):
            try:
                self._conn.request(method, path, body=payload, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._conn.close()
                if attempt:
                    raise
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, data.decode(errors="replace")


class Connection:
    """One asyncio HTTP/1.1 keep-alive connection; :meth:`request` returns (status, body bytes)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int):
        self.reader, self.writer, self.port = reader, writer, port

    @classmethod
    async def open(cls, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer, port)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (body or b""))
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked = None, False
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            return status, await self._chunks()
        return status, await self.reader.readexactly(length or 0)

    async def _chunks(self) -> bytes:
        parts = []
        while size := int((await self.reader.readline()).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()
        await self.reader.readline()  # the empty line after the last chunk
        return b"".join(parts)
