"""The panel's model choice against a REAL local backend (`momug serve --checkpoint tiny`, a fresh
config folder, so the opt-in 'real' model's licence is not accepted): the choice is sent with
Generate, Describe and the animator tools; the backend's refusal reaches the report with the
licence and the command that accepts it, and the scene is left as it was."""

import pytest

import bpy
from blender_addon import client, jobs, operators, properties
from rigs_for_tests import make_mixamo, make_motion


def fingerprint():
    return (sorted(o.name for o in bpy.data.objects), sorted(a.name for a in bpy.data.actions),
            {o.name: (o.animation_data.action.name if o.animation_data and o.animation_data.action else None)
             for o in bpy.data.objects})


@pytest.fixture
def st(scene):
    st = scene.momug
    st.prompt, st.steps, st.seed, st.seconds = "a person walks forward", 2, 1, 2.0
    yield st
    st.property_unset("model")
    st.property_unset("stream")


def rig_with_action():
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    jobs.apply_motion(bpy.context, make_motion(T=41, seed=2), target="ACTIVE", target_obj=obj, prompt="mine")
    return obj


def test_the_choice_shows_the_licence_before_use(addon, scene):
    items = scene.momug.bl_rna.properties["model"].enum_items
    assert [i.identifier for i in items] == ["default", "real"]
    assert items["real"].name == "Real motion (CC BY-NC 4.0, opt-in)"
    for part in ("CC BY-NC 4.0", "non-commercial", "Bandai Namco Research", "momug licence accept real"):
        assert part in items["real"].description
    assert scene.momug.model == "default"


def test_the_backend_lists_its_models(use_backend):
    listed = client.Client(use_backend["url"], use_backend["token"]).models()
    models = {m["name"]: m for m in listed["models"]}
    assert listed["default"] == "default" and set(models) == {"default", "real"}
    assert models["real"]["licence"]["name"] == "CC BY-NC 4.0" and not models["real"]["accepted"]
    assert models["real"]["accept_command"] == "momug licence accept real"


@pytest.mark.parametrize("what", ["generate", "describe", "continue"])
def test_an_unaccepted_model_is_reported_with_its_licence_and_nothing_changes(addon, st, use_backend, what):
    obj = rig_with_action() if what != "generate" else None
    st.model = "real"
    before = fingerprint()
    with pytest.raises(RuntimeError) as err:
        if what == "generate":
            bpy.ops.momug.generate()
        elif what == "describe":
            bpy.ops.momug.describe()
        else:
            bpy.ops.momug.animate(tool="CONTINUE")
    for part in ("will not use this model yet", "'real' model is opt-in", "CC BY-NC 4.0",
                 "momug licence accept real"):
        assert part in str(err.value) and part in st.status
    assert fingerprint() == before
    if obj is not None:
        assert "momug_caption" not in obj.animation_data.action and not st.caption


def test_the_default_choice_is_sent_and_works(addon, st, use_backend):
    st.model = "default"
    job = operators.make_generate_job(bpy.context, st)
    assert job.params["model"] == "default"
    assert bpy.ops.momug.generate() == {"FINISHED"}
    assert st.history[-1].model == "default"
    obj = rig_with_action()
    assert bpy.ops.momug.describe() == {"FINISHED"} and st.caption
    assert bpy.ops.momug.animate(tool="CONTINUE") == {"FINISHED"}
    assert obj.animation_data.action.name.startswith("MoMug: a person walks")
    # The history remembers the model a motion was made with.
    st.model = "real"
    st.history_index = len(st.history) - 1
    assert bpy.ops.momug.history_apply(mode="SETTINGS") == {"FINISHED"}
    assert st.model == "default"


def test_streaming_with_the_real_model_is_refused_before_anything_is_sent(addon, st, use_backend):
    st.model, st.stream = "real", True
    before = fingerprint()
    with pytest.raises(RuntimeError, match="no streaming mode: turn Stream off"):
        bpy.ops.momug.generate()
    assert fingerprint() == before


def test_scripts_choose_the_model_by_name(scene, use_backend):
    be = client.Client(use_backend["url"], use_backend["token"])
    before = fingerprint()
    with pytest.raises(jobs.JobError, match="momug licence accept real"):
        jobs.run_generate(bpy.context, be, "a person waves", seconds=2.0, steps=2, model="real")
    assert fingerprint() == before
    with pytest.raises(client.BackendError) as err:
        be.submit_caption(make_motion()["joints"], model="real")
    assert err.value.kind == "licence"
    res = jobs.run_generate(bpy.context, be, "a person waves", seconds=2.0, steps=2, model="default")
    assert len(res.frames) > 10
