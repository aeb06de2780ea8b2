"""``serve``: recommendations over HTTP (FastAPI + uvicorn) from the active run, or --run, over the workspace store.

Endpoints: GET /health, GET /metrics, GET /v1/users/{user}/recommendations, POST /v1/users/{user}/scores,
POST /v1/articles, POST /v1/clicks, POST /v1/impressions, GET /v1/monitor, POST /admin/swap (see the README).
One process serves; for several workers start several processes on different ports behind a balancer: they share
the store (clicks, added articles, the traffic log) and each keeps its own user-vector cache.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from pathlib import Path

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="serve recommendations over HTTP", description=__doc__)
    parser.add_argument("--run", default=None,
                        help="run folder or stored run id (default: the active run, followed when it changes)")
    parser.add_argument("--challenger", default=None, help="a second run for an A/B test (arm B)")
    parser.add_argument("--challenger-share", type=float, default=0.5,
                        help="share of users (by a stable hash of their id) served by the challenger (default: 0.5)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="server log level (default: info)")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder")
    parser.add_argument("--inference", choices=("torch", "onnx", "int8"), default="torch",
                        help="run the per-request model in torch, or exported to ONNX (onnxruntime), or ONNX with "
                        "INT8 weights (default: torch; see benchmarks/inference.py)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from recengine.app import open_workspace
    from recengine.app.live import LiveService
    from recengine.errors import InputError
    from recengine.http import create_app

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be from 0 to 65535, got {args.port}")
    workspace, store = open_workspace()
    print(f"loading {args.run or 'the active run'} ...", file=sys.stderr)
    live = LiveService(workspace, store, args.run, challenger=args.challenger,
                       challenger_share=args.challenger_share, cache=args.cache,
                       inference=args.inference)
    # uvicorn shuts down gracefully on SIGTERM, then raises it again: ours ends the process through ``finally`` (the
    # traffic log's queue is written) with status 0, as a service manager expects of a clean stop.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        # Bound here, not by uvicorn: a busy port is one line and exit 2, and port 0 tells its number.
        sock = socket.create_server((args.host, args.port))
        # Accepted connections inherit this; without it every response waits ~40 ms (Nagle + delayed ACK).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        host, port = sock.getsockname()[:2]
        arms = ", ".join(f"{a['arm']}={a['run_id']}" for a in live.arms)
        print(f"serving {arms} on http://{host}:{port}", flush=True)
        server = uvicorn.Server(uvicorn.Config(create_app(live), log_level=args.log_level))
        server.run(sockets=[sock])
    except Terminated:
        pass
    finally:
        live.close()
    return 0


class Terminated(Exception):
    """SIGTERM arrived (after uvicorn's graceful shutdown, or before it started)."""


def _terminated(signum, frame) -> None:
    raise Terminated
