"""Several clients at once: every result arrives, and each belongs to the request that asked for it."""

import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")

CLIENTS = 8
GENERATES_PER_CLIENT = 3


def request_for(client: int, n: int, tiny) -> dict:
    seconds = [1.0, 1.5, 2.0][(client + n) % 3]
    return {"prompt": f"client {client} asks for motion {n}", "seconds": max(seconds, tiny.min_seconds),
            "seed": 100 * client + n, "steps": 2}


def submit_with_retry(live, route, body):
    """A polite client: a full queue (429) means try again shortly."""
    for _ in range(200):
        status, reply, _ = live.call("POST", f"/v1/{route}", body)
        if status != 429:
            assert status == 202, (status, reply)
            return reply["id"]
        time.sleep(0.05)
    raise AssertionError("the queue stayed full")


def test_concurrent_clients_get_their_own_results(start_server, wrap, tiny):
    # References first, straight from the model while the server is idle: the same seed gives
    # the same motion whether or not it was batched with others.
    ref_requests = [request_for(c, n, tiny) for c in range(CLIENTS) for n in range(GENERATES_PER_CLIENT)]
    ref_motions = tiny.generate([r["prompt"] for r in ref_requests], [r["seconds"] for r in ref_requests],
                                [r["seed"] for r in ref_requests], steps=2)
    expected = {r["prompt"]: m for r, m in zip(ref_requests, ref_motions)}
    # The exact float32 arrays the server will rebuild from the rounded JSON lists.
    caption_inputs = {c: np.asarray(np.round(ref_motions[c * GENERATES_PER_CLIENT].joints, 6), dtype=np.float32)
                      for c in range(CLIENTS)}
    expected_captions = dict(zip(caption_inputs, tiny.caption(list(caption_inputs.values()),
                                                              [tiny.fps] * CLIENTS)))

    model = wrap()
    live = start_server(loader=lambda: model, max_queued=6)
    errors, results = [], {}

    def client(c):
        try:
            for n in range(GENERATES_PER_CLIENT):
                body = request_for(c, n, tiny)
                results[body["prompt"]] = live.result(submit_with_retry(live, "generate", body))
            joints = caption_inputs[c].astype(np.float64).tolist()
            results[c] = live.result(submit_with_retry(live, "caption", {"joints": joints, "fps": tiny.fps}))
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[0]
    assert len(results) == CLIENTS * (GENERATES_PER_CLIENT + 1)
    for request in ref_requests:
        (motion,) = results[request["prompt"]]["motions"]
        reference = expected[request["prompt"]]
        assert motion["prompt"] == request["prompt"] and motion["seed"] == request["seed"]
        assert motion["frames"] == len(reference.joints)
        np.testing.assert_allclose(motion["joints"], reference.joints, atol=2e-5)
    for c in range(CLIENTS):
        assert results[c]["caption"] == expected_captions[c].strip()
    # The worker really shared forward passes between clients.
    assert len(model.generate_calls) < len(ref_requests)
    assert max(len(call) for call in model.generate_calls) > 1
