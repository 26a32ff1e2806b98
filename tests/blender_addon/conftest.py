"""Runs under a bpy virtual environment (scripts/test_blender.sh). The add-on is imported from
the source tree as the package `blender_addon`; everything registered is unregistered at the end,
because bpy 4.5 never exits while an add-on class is still registered."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

try:
    import bpy
except ImportError:  # the main environment has no bpy: these tests run via scripts/test_blender.sh
    bpy = None
collect_ignore_glob = ["test_*.py"] if bpy is None else []


@pytest.fixture(scope="session")
def addon():
    import blender_addon
    blender_addon.register()
    yield blender_addon
    blender_addon.unregister()


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    """A real `momug serve` (the tiny model unless MOMUG_TEST_SERVE_ARGS says otherwise), one per
    test module; a module may define its own to serve other models."""
    from backend_for_tests import serve

    args = os.environ.get("MOMUG_TEST_SERVE_ARGS", "--checkpoint tiny").split()
    yield from serve(tmp_path_factory.mktemp("momug_config"), args)


@pytest.fixture
def use_backend(backend, monkeypatch):
    """The add-on pointed at the module's backend for one test."""
    from backend_for_tests import point_addon_at

    return point_addon_at(monkeypatch, backend)


def reset_settings(scene):
    """The panel's settings back to their defaults, so tests do not depend on their order."""
    st = getattr(scene, "momug", None)
    if st is None:
        return
    for name in ("target", "bone_map", "root_motion", "translation_bone", "push_to_nla",
                 "running", "status", "caption", "seconds_note", "limit_min_seconds",
                 "limit_max_seconds", "map_rows_object"):
        st.property_unset(name)
    st.map_rows.clear()
    st.seconds = 4.0


@pytest.fixture
def scene():
    from rigs_for_tests import clean_scene
    clean_scene()
    reset_settings(bpy.context.scene)
    yield bpy.context.scene
    clean_scene()
    reset_settings(bpy.context.scene)


_exit_status = {}


def pytest_sessionfinish(session, exitstatus):
    _exit_status["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """bpy 4.2's module teardown segfaults at interpreter exit, which would turn a passing run
    into a crash: once pytest has reported everything, leave with its own exit status."""
    if bpy is not None and bpy.app.version < (4, 4, 0) and "code" in _exit_status:
        config.get_terminal_writer().flush()
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            stream.flush()
        os._exit(_exit_status["code"])
