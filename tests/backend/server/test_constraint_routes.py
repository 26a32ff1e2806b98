"""POST /v1/generate with animator constraints, against a real server with the real tiny model."""

import math

import numpy as np
import pytest

pytest.importorskip("fastapi")

from momug import constraints as C  # noqa: E402
from momug.data.synth import compose  # noqa: E402
from momug.server import schema  # noqa: E402


@pytest.fixture(scope="module")
def walk():
    rng = np.random.default_rng(3)
    for _ in range(50):
        motion, _, _ = compose.sample_sequence(rng, ["walk", "walk"])
        if len(motion.joints) >= 60:
            return np.round(np.asarray(motion.joints[:60], dtype=np.float64) + [0.5, 0, 0.5], 6)
    raise AssertionError("no walk")


def base(**fields):
    return {"prompt": "a person walks forward", "seed": 1, "steps": 2, **fields}


def test_keys_are_met_and_seconds_sets_the_length(server, walk):
    body = base(seconds=2.0, keys={"frames": [0, 39], "joints": walk[[0, 39]].tolist()})
    motion = server.result(server.submit("generate", body))["motions"][0]
    joints = np.asarray(motion["joints"])
    assert motion["frames"] == 40
    assert np.abs(joints[[0, 39]] - walk[[0, 39]]).max() < 1e-5


def test_a_path_sets_the_length_and_is_followed(server):
    body = base(path={"waypoints": [[0, 0], [1.5, 0]], "speed": 1.0})
    motion = server.result(server.submit("generate", body))["motions"][0]
    joints = np.asarray(motion["joints"])
    assert motion["frames"] == 31
    assert np.abs(joints[:, 0, 0] - np.linspace(0, 1.5, 31)).max() < 1e-5


def test_continue_and_edit(server, walk):
    cont = server.result(server.submit("generate", base(seconds=1.5, start=walk.tolist())))["motions"][0]
    assert cont["frames"] == 30
    edit = server.result(server.submit("generate", base(edit={"joints": walk.tolist(), "keep": ["lower"]})))
    joints = np.asarray(edit["motions"][0]["joints"])
    kept = list(C.BODY_PARTS["lower"])
    assert joints.shape == (60, 22, 3)
    assert np.abs(joints[:, kept] - walk[:, kept]).max() < 1e-6   # the wire rounds to 1e-6 m


@pytest.mark.parametrize("change, words", [
    (dict(seconds=2.0, keys={"frames": [0, 45], "joints": "two"}), "outside the clip"),
    (dict(seconds=2.0, keys={"frames": [0, 1], "joints": "far"}), "faster than a sprint"),
    (dict(path=[[0, 0], [5, 0], [10, 0]]), "faster than a sprint"),
    (dict(path=[[0, 0], [math.nan, 0]]), "path"),
    (dict(edit={"joints": "walk", "keep": ["wings"]}), "keep"),
    (dict(seconds=2.0, start="nan"), "finite"),
    (dict(), "seconds is required"),
    (dict(seconds=9.8, start="walk"), "longer than this model"),
])
def test_bad_constraints_get_422_before_any_work(server, walk, change, words):
    arrays = {"two": walk[:2], "far": np.stack([walk[0], walk[0] + [4.0, 0, 0]]), "walk": walk,
              "nan": np.where(np.arange(22)[None, :, None] == 2, np.nan, walk)}

    def fill(value):
        if isinstance(value, str) and value in arrays:
            return arrays[value].tolist()
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    body = base(**{k: fill(v) for k, v in change.items()})
    calls_before = server.jobs.counts()
    status, reply, _ = server.call("POST", "/v1/generate", body)
    assert status == 422, reply
    assert words in reply["detail"], reply["detail"]
    assert server.jobs.counts() == calls_before


def test_openapi_documents_the_constraint_fields(server):
    _, spec, _ = server.call("GET", "/openapi.json", token=None)
    props = spec["components"]["schemas"]["GenerateRequest"]["properties"]
    assert {"start", "end", "keys", "path", "edit"} <= set(props)
    assert "KeysIn" in spec["components"]["schemas"] and "EditIn" in spec["components"]["schemas"]


def test_wire_body_part_names_are_the_backends():
    assert set(schema.BODY_PART_NAMES) == set(C.BODY_PARTS)


def _addon_client():
    """blender_addon/client.py is standard library only: load it without Blender."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "blender_addon" / "client.py"
    spec = importlib.util.spec_from_file_location("momug_addon_client", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_addon_client_mirrors_the_constraint_fields(server, walk):
    client = _addon_client()
    assert set(client.BODY_PARTS) == set(C.BODY_PARTS)
    assert client.MAX_KEYS == schema.MAX_KEYS and client.MAX_PATH_POINTS == schema.MAX_PATH_POINTS
    backend = client.Client(server.url, server.token)
    job = backend.submit_generate("a person walks", None, steps=2,
                                  constraints={"edit": walk, "keep": ["upper"]})
    joints = np.asarray(backend.wait(job)["motions"][0]["joints"])
    kept = list(C.BODY_PARTS["upper"])
    assert np.abs(joints[:, kept] - walk[:, kept]).max() < 1e-6
    job = backend.submit_generate("a person walks", 2.0, steps=2,
                                  constraints={"keys": ([39], walk[[39]]), "start": walk})
    motion = backend.wait(job)["motions"][0]
    assert motion["frames"] == 40 and np.abs(np.asarray(motion["joints"])[39] - walk[39]).max() < 1e-5
    with pytest.raises(client.BackendError, match="faster than a sprint"):
        backend.submit_generate("a person walks", None, steps=2, constraints={"path": [[0, 0], [9, 0]]})
    with pytest.raises(client.BackendError, match="body parts"):
        backend.submit_generate("a person walks", None, constraints={"edit": walk, "keep": ["tail"]})
    with pytest.raises(client.BackendError, match="NaN"):
        backend.submit_generate("a person walks", None, constraints={"path": [[0, 0], [math.nan, 1]]})
