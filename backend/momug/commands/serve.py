"""`momug serve`: the local HTTP backend for the Blender add-on and scripts."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import socket
import sys
import time
from pathlib import Path

from momug.errors import MomugError, require
from momug.model import registry


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "serve",
        help="run the local backend (HTTP on 127.0.0.1) that the Blender add-on talks to",
        description=(
            "Load the model once and serve text-to-motion and motion-to-text over HTTP, every "
            "route under /v1 (OpenAPI description at /openapi.json). Every route but /v1/health "
            "needs the token in the user config folder ('momug token' prints it). The model loads "
            "in the background; /v1/health answers 'loading' until it is ready. Requests may name "
            "another shipped model (GET /v1/models lists them), which loads on its first request."
        ),
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; others need --allow-remote)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                   help="where the model runs (default: cuda when present)")
    p.add_argument("--model", metavar="NAME", choices=registry.NAMES,
                   help="the model loaded at start and given to requests that name none: "
                        + registry.OPTION_HELP.removeprefix("a shipped diffusion model by name: "))
    p.add_argument("--checkpoint", metavar="DIR|tiny", default=None,
                   help="model folder served as 'default' (default: the shipped model; 'tiny' is a small "
                        "random model for tests); not with --model")
    p.add_argument("--stream-checkpoint", metavar="DIR|tiny", default=None,
                   help="streaming model folder for POST /v1/generate/stream, loaded on the first stream "
                        "request (default: the shipped streaming model, when installed; 'tiny' for tests)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --host: other machines can then reach the server over plain HTTP")
    p.add_argument("--max-queue", type=int, default=32, metavar="N",
                   help="jobs that may wait before new ones get 429 (default 32)")
    p.add_argument("--max-batch", type=int, default=8, metavar="N",
                   help="most motions or captions computed in one model call (default 8)")
    p.add_argument("--access-log", action="store_true", help="log every HTTP request")
    return p


def run(args) -> int:
    if not 1 <= args.port <= 65535:
        raise MomugError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_queue < 1 or args.max_batch < 1:
        raise MomugError("--max-queue and --max-batch must be at least 1")
    registry.checkpoint_for(args.model, args.checkpoint)  # the model loaded at start: its licence, now
    if not is_loopback(args.host):
        if not args.allow_remote:
            raise MomugError(f"--host {args.host} would accept connections from other machines; "
                             "add --allow-remote if that is what you want")
        print(f"warning: listening on {args.host}: other machines can reach this server. Traffic is "
              "plain HTTP, so anyone on the network path can read the token; prefer an SSH tunnel.",
              file=sys.stderr, flush=True)
    require("fastapi")
    uvicorn = require("uvicorn")
    from momug.server.app import create_app
    from momug.server.auth import load_or_create_token, token_path
    from momug.server.models import registry_table

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    token = load_or_create_token()
    sock = bind(args.host, args.port)   # bound here so a busy port is a clear error, not a log line
    models = registry_table(args.model, args.checkpoint, lambda checkpoint: _loader(checkpoint, args.device))
    app = create_app(models, token,
                     max_queued=args.max_queue, max_batch=args.max_batch,
                     stream_loader=_loader(args.stream_checkpoint, args.device, stream=True),
                     stream_probe=_stream_probe(args.stream_checkpoint))
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"momug serve: listening on http://{shown_host}:{args.port}/v1 (model '{models.default}' loading in "
          f"the background; GET /v1/health says when it is ready)", flush=True)
    print(f"momug serve: token file {token_path()} ('momug token' prints it)", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=args.access_log,
                            timeout_graceful_shutdown=5, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False   # a host name other than localhost may resolve anywhere


def bind(host: str, port: int) -> socket.socket:
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1" if host.lower() == "localhost" else host, port))
    except OSError as exc:
        sock.close()
        raise MomugError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                         "(is another 'momug serve' running? try --port)") from None
    sock.listen(128)   # uvicorn's default backlog
    sock.set_inheritable(True)
    return sock


def _loader(checkpoint: str | None, device: str, stream: bool = False):
    """The diffusion model loads in the model worker thread (so the server answers health while
    torch loads); the streaming one on the first stream request, in a threadpool thread."""
    what = "streaming model" if stream else "model"

    def load():
        if stream:
            from momug.stream.pipeline import StreamPipeline as Pipeline
        else:
            from momug.pipeline import MotionPipeline as Pipeline

        log = logging.getLogger("momug.server")
        started = time.perf_counter()
        log.info("loading the %s (%s) on %s", what, checkpoint or "default", device)
        pipeline = Pipeline.load(checkpoint, device=device)
        log.info("%s %s (%s) ready on %s in %.1f s", what, pipeline.model_id, pipeline.checkpoint_id,
                 pipeline.device, time.perf_counter() - started)
        return pipeline

    return load


def _stream_probe(checkpoint: str | None):
    """Why the streaming model cannot be loaded, or None; cheap, for /v1/health."""

    def probe() -> str | None:
        if checkpoint == "tiny":
            return None
        if checkpoint:
            return None if Path(checkpoint).is_dir() else f"the folder {checkpoint} does not exist"
        if default_stream_folder().is_dir():
            return None
        return ("the default streaming model is not installed with this copy of momug; "
                "start the server with --stream-checkpoint DIR")

    return probe


def default_stream_folder() -> Path:
    """momug.stream.checkpoint.default_stream_checkpoint() without importing torch: health asks
    for it while the worker thread may be importing torch itself."""
    import momug

    return Path(momug.__file__).resolve().parent / "checkpoints" / "stream_default"
