#!/usr/bin/env python3
"""Benchmark the local backend (not a test): requests/s and latency percentiles for generate and
caption at several concurrency levels, through real HTTP as the add-on uses it.

    python scripts/bench_server.py                          # tiny model, concurrency 1, 4, 8
    python scripts/bench_server.py --checkpoint default     # the shipped model (slow to load)
    python scripts/bench_server.py --url http://127.0.0.1:8765   # a server that is already running

A request's latency runs from POST to the result in hand (submit, poll every --poll s, fetch).
It starts `momug serve` on a free port with a throwaway config folder unless --url is given.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np


def main() -> int:
    args = parse_args()
    server = None
    if args.url:
        url, token = args.url.rstrip("/"), args.token or read_default_token()
    else:
        server, url, token = start_server(args)
    try:
        health = wait_ready(url, args.load_timeout)
        limits = health["limits"]
        seconds = min(max(args.seconds, limits["min_seconds"]), limits["max_seconds"])
        print(f"model {health['model_id']} ({health['checkpoint_id']}) on {health['device']}; "
              f"generate: {seconds:g} s, {args.steps} steps; {args.requests} requests per level")
        api = Api(url, token, args.poll)
        body = {"prompt": "a person walks forward and waves", "seconds": seconds, "steps": args.steps}
        sample = api.run("generate", dict(body, seed=0))["motions"][0]   # warm-up, and caption input
        caption_body = {"joints": sample["joints"], "fps": sample["fps"]}
        api.run("caption", caption_body)
        print(f"{'workload':<10}{'conc':>5}{'req/s':>9}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}")
        for workload, make_body in (("generate", lambda i: dict(body, seed=i)),
                                    ("caption", lambda i: caption_body)):
            for concurrency in args.concurrency:
                rate, latencies = measure(api, workload, make_body, concurrency, args.requests)
                p50, p90, p99 = np.percentile(latencies, [50, 90, 99]) * 1000
                print(f"{workload:<10}{concurrency:>5}{rate:>9.2f}{p50:>10.0f}{p90:>10.0f}{p99:>10.0f}",
                      flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
    return 0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="tiny", help="'tiny' (default), 'default' or a model folder")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--url", help="bench a running server instead of starting one")
    p.add_argument("--token", help="its token (default: the one in the user config folder)")
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 8])
    p.add_argument("--requests", type=int, default=16, help="requests per workload and level")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--poll", type=float, default=0.1, help="seconds between status polls")
    p.add_argument("--load-timeout", type=float, default=600.0)
    return p.parse_args()


def start_server(args):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tempfile.mkdtemp(prefix="momug-bench-")
    cmd = [sys.executable, "-m", "momug.cli", "serve", "--port", str(port), "--device", args.device,
           "--max-queue", "64"]
    if args.checkpoint != "default":
        cmd += ["--checkpoint", args.checkpoint]
    log = open(os.path.join(config, "serve.log"), "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, MOMUG_CONFIG=config))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    token_file = os.path.join(config, "token")
    while not os.path.exists(token_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"momug serve did not start; see {config}/serve.log")
        time.sleep(0.1)
    time.sleep(0.1)
    return proc, url, open(token_file).read().strip()


def read_default_token() -> str:
    from momug.server.auth import read_token
    return read_token()


def wait_ready(url: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            health = json.loads(urllib.request.urlopen(url + "/v1/health", timeout=5).read())
            if health["status"] == "ready":
                return health
            if health["status"] == "failed":
                sys.exit(f"the model failed to load: {health['error']}")
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit("the server did not become ready in time")
        time.sleep(0.2)


class Api:
    def __init__(self, url: str, token: str, poll: float):
        self.url, self.token, self.poll = url + "/v1", token, poll

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as reply:
            return json.loads(reply.read())

    def run(self, route: str, body: dict) -> dict:
        """Submit, poll until finished, fetch the result (retrying politely on a full queue)."""
        while True:
            try:
                job = self.call("POST", f"/{route}", body)["id"]
                break
            except urllib.error.HTTPError as exc:
                if exc.code != 429:
                    raise
                time.sleep(0.05)
        while True:
            state = self.call("GET", f"/jobs/{job}")
            if state["status"] == "done":
                return self.call("GET", f"/jobs/{job}/result")
            if state["status"] in ("failed", "cancelled"):
                raise RuntimeError(f"job {job} {state['status']}: {state['error']}")
            time.sleep(self.poll)


def measure(api: Api, route: str, make_body, concurrency: int, total: int):
    """(requests per second, latencies in s) for `total` requests from `concurrency` clients."""
    latencies, counter, lock = [], iter(range(total)), threading.Lock()

    def client():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            started = time.perf_counter()
            api.run(route, make_body(i))
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return total / (time.perf_counter() - started), np.asarray(latencies)


if __name__ == "__main__":
    sys.exit(main())
