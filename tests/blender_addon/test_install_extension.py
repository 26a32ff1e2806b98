"""Build the zip with scripts/build_addon.py and install it with Blender's extension installer.

Runs in a separate bpy process with its own user folder, so the installed copy neither clashes
with the source copy the other tests register nor touches the user's Blender settings."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def test_build_install_enable(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "build_addon.py"),
                          "-o", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    zip_path = out.stdout.strip().splitlines()[-1]
    assert os.path.isfile(zip_path)
    import zipfile
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
    assert {"blender_manifest.toml", "__init__.py", "smplx_body.py", "rigs/smpl22.json",
            "rigs/bonemaps/mixamo.json", "rigs/bonemaps/rigify.json"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    proc = subprocess.run([sys.executable, os.path.join(HERE, "install_check_script.py"), zip_path],
                          capture_output=True, text=True, timeout=300, env=env, cwd=str(tmp_path))
    text = proc.stdout
    print(text[-3000:], proc.stderr[-2000:])
    assert proc.returncode == 0
    assert "INSTALL {'FINISHED'}" in text
    assert "ENABLED True" in text and "OPERATOR True" in text
    assert "PREFS_URL http://127.0.0.1" in text
    assert "rigs" in text and "mixamo" in text and "rigify" in text
    assert "BONES 22" in text
    assert "TORCH_IMPORTED False" in text
    assert "DISABLED True" in text
