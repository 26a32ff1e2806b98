"""Requests that name a model, on a real HTTP server: GET /v1/models, the licence gate (403,
nothing loaded), each model loaded once on its first request, jobs never batched across models.

The opt-in model here is the tiny model saved to a folder with a LICENCE.json, so the gate and
the lazy load are the real ones without loading the real LLM."""

import json

import pytest

from momug import licences

TERMS = {"name": "CC BY-NC 4.0", "summary": "non-commercial use only, with attribution",
         "attribution": "Someone, 2022"}
WALK = {"prompt": "a person walks", "seconds": 1.0, "steps": 2}


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("MOMUG_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv(licences.ENV_ACCEPT, raising=False)
    return tmp_path / "config"


@pytest.fixture(scope="module")
def opt_in_folder(tiny, tmp_path_factory):
    from momug.model import checkpoint as ckpt

    folder = ckpt.save_pretrained(tiny.model, tmp_path_factory.mktemp("models") / "real")
    (folder / licences.LICENCE_FILE).write_text(json.dumps(TERMS))
    return folder


class Loads:
    """A loader that counts its calls and keeps what it loaded."""

    def __init__(self, load):
        self._load, self.calls, self.pipeline = load, 0, None

    def __call__(self):
        self.calls += 1
        self.pipeline = self._load()
        return self.pipeline


class Recording:
    """A loaded pipeline that records the prompts of each generate call."""

    def __init__(self, inner):
        self.inner, self.generate_calls = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, prompts, *args, **kwargs):
        self.generate_calls.append(list(prompts))
        return self.inner.generate(prompts, *args, **kwargs)


@pytest.fixture
def two_models(config, opt_in_folder, wrap, start_server):
    """A server offering 'default' (the tiny model, with holds) and 'real' (the opt-in folder,
    loaded from disk)."""
    from momug.pipeline import MotionPipeline
    from momug.server.models import ModelTable, ServedModel

    def start(default="default", real_load=None):
        loads = {"default": Loads(wrap),
                 "real": Loads(real_load or (lambda: Recording(MotionPipeline.load(str(opt_in_folder), "cpu"))))}
        table = ModelTable([ServedModel("default", "tiny", loads["default"]),
                            ServedModel("real", "tiny, opt-in", loads["real"], opt_in_folder)], default)
        return start_server(table), loads

    return start


def models_by_name(live):
    status, reply, _ = live.call("GET", "/v1/models")
    assert status == 200, reply
    return reply["default"], {m["name"]: m for m in reply["models"]}


def test_an_unaccepted_model_is_refused_with_its_terms_and_nothing_loads(two_models):
    live, loads = two_models()
    default, models = models_by_name(live)
    assert default == "default" and list(models) == ["default", "real"]
    assert models["default"] == {"name": "default", "description": "tiny", "default": True, "installed": True,
                                 "loaded": True, "licence": None, "accepted": True, "accept_command": None,
                                 "error": None, "guidance": None}   # no folder: its config is not read
    real = models["real"]
    assert real["licence"] == {**TERMS, "url": None} and real["accepted"] is False and real["loaded"] is False
    assert real["accept_command"] == "momug licence accept real"
    assert real["guidance"] == 2.5   # its own scale, read from its config.json without loading it

    for route, body in (("generate", {**WALK, "model": "real"}),
                        ("caption", {"joints": [[[0.0, 1.0, 0.0]] * 22] * 20, "model": "real"})):
        status, reply, _ = live.call("POST", f"/v1/{route}", body)
        assert status == 403, reply
        assert "\n" not in reply["detail"]
        for part in ("'real' model is opt-in", "CC BY-NC 4.0", "non-commercial", "momug licence accept real"):
            assert part in reply["detail"]
    assert loads["real"].calls == 0 and live.jobs.counts() == (0, 0)
    assert models_by_name(live)[1]["real"]["loaded"] is False


def test_each_model_loads_once_and_runs_only_its_own_jobs(two_models, config):
    live, loads = two_models()
    licences.accept(live.app.state.models._models["real"].folder)   # as `momug licence accept` does
    assert models_by_name(live)[1]["real"]["accepted"] is True

    hold = loads["default"].pipeline.hold()
    first = live.submit("generate", {**WALK, "prompt": "a person waves"})   # held inside the model
    assert hold.started.wait(20)
    # Same settings, different models: never one forward pass.
    real_jobs = [live.submit("generate", {**WALK, "model": "real", "prompt": f"real {i}"}) for i in range(2)]
    after = live.submit("generate", {**WALK, "model": "default", "prompt": "a person jumps"})
    hold.resume.set()
    for job in [first, *real_jobs, after]:
        motion = live.result(job)["motions"][0]
        assert motion["frames"] == 20
    caption = live.submit("caption", {"joints": motion["joints"], "model": "real"})
    assert isinstance(live.result(caption)["caption"], str)

    assert loads["default"].calls == 1 and loads["real"].calls == 1
    assert loads["default"].pipeline.generate_calls == [["a person waves"], ["a person jumps"]]
    assert loads["real"].pipeline.generate_calls == [["real 0", "real 1"]]
    assert models_by_name(live)[1]["real"]["loaded"] is True
    _, health, _ = live.call("GET", "/v1/health", token=None)
    assert health["model_id"] == "tiny"   # health speaks of the default model


def test_unknown_names_and_the_streaming_route(two_models):
    live, _ = two_models()
    status, reply, _ = live.call("POST", "/v1/generate", {**WALK, "model": "fancy"})
    assert status == 422 and "model: Input should be 'default' or 'real'" in reply["detail"]
    status, reply, _ = live.call("POST", "/v1/generate/stream", {**WALK, "model": "real"})
    assert status == 422 and "there is no streaming 'real' model" in reply["detail"]


def test_the_server_default_can_be_the_opt_in_model(two_models, config, monkeypatch):
    monkeypatch.setenv(licences.ENV_ACCEPT, "CC BY-NC 4.0")
    live, loads = two_models(default="real")
    assert loads["real"].calls == 1 and loads["default"].calls == 0   # the default loads at start
    assert live.result(live.submit("generate", WALK))["motions"]
    assert loads["real"].pipeline.generate_calls == [[WALK["prompt"]]]
    default, models = models_by_name(live)
    assert default == "real" and models["real"]["default"] and not models["default"]["loaded"]


def test_a_model_that_fails_to_load_fails_its_jobs_and_then_answers_503(two_models, config, monkeypatch):
    from momug.errors import MomugError

    def broken():
        raise MomugError("checkpoint is corrupt")

    monkeypatch.setenv(licences.ENV_ACCEPT, "CC BY-NC 4.0")
    live, loads = two_models(real_load=broken)
    state = live.wait(live.submit("generate", {**WALK, "model": "real"}))
    assert state["status"] == "failed" and state["error"] == "the 'real' model failed to load: checkpoint is corrupt"
    status, reply, _ = live.call("POST", "/v1/generate", {**WALK, "model": "real"})
    assert status == 503 and "checkpoint is corrupt" in reply["detail"]
    assert models_by_name(live)[1]["real"]["error"] == "checkpoint is corrupt"
    assert live.result(live.submit("generate", WALK))["motions"]   # the default still works
    assert loads["real"].calls == 1   # not tried again


def test_serve_offers_the_registry_with_its_checkpoint_as_default(config, tiny, start_server):
    """What `momug serve --checkpoint tiny` builds: the shipped 'real' model behind its own licence."""
    from momug.server.models import registry_table

    asked = []

    def loader(checkpoint):
        asked.append(checkpoint)
        return (lambda: tiny) if checkpoint == "tiny" else (lambda: pytest.fail("the real model was loaded"))

    table = registry_table(None, "tiny", loader)
    live = start_server(table)
    assert asked[0] == "tiny" and asked[1].endswith("checkpoints/real")
    default, models = models_by_name(live)
    assert default == "default" and "--checkpoint" in models["default"]["description"]
    assert models["real"]["licence"]["name"] == "CC BY-NC 4.0" and "Bandai" in models["real"]["licence"]["attribution"]
    status, reply, _ = live.call("POST", "/v1/generate", {**WALK, "model": "real"})
    assert status == 403 and "momug licence accept real" in reply["detail"]
    assert live.result(live.submit("generate", {**WALK, "model": "default"}))["motions"]


def test_openapi_documents_the_model_field_and_the_403(server):
    _, spec, _ = server.call("GET", "/openapi.json", token=None)
    for request in ("GenerateRequest", "CaptionRequest"):
        field = spec["components"]["schemas"][request]["properties"]["model"]["anyOf"][0]
        assert field["enum"] == ["default", "real"] and "momug licence accept real" in field["description"]
    assert "403" in spec["paths"]["/v1/generate"]["post"]["responses"]
    listed = spec["paths"]["/v1/models"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"]["$ref"].endswith("/ModelList")
