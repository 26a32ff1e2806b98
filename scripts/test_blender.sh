#!/usr/bin/env bash
# Run the Blender add-on tests (tests/blender_addon) in real Blender: the bpy module from PyPI,
# once per supported version, each in its own virtual environment (bpy pins its own numpy).
# Missing venvs are created and bpy is installed from PyPI, so this works on a fresh machine.
#
#   scripts/test_blender.sh              # every version
#   scripts/test_blender.sh 4.5.15 -k keying   # one version, extra pytest arguments
#
# Env: MOMUG_BPY_VENVS (where the venvs live, default ~/.cache/momug/bpy-venvs),
#      PYTHON311 (a Python 3.11 to build them; bpy wheels are for 3.11 only),
#      MOMUG_PYTHON / MOMUG_TEST_SERVE_ARGS for the tests that start a real backend.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="${MOMUG_BPY_VENVS:-$HOME/.cache/momug/bpy-venvs}"
ALL_VERSIONS=(4.2.0 4.5.15 5.0.1)

if [[ $# -gt 0 && "$1" =~ ^[0-9]+\.[0-9]+ ]]; then
  VERSIONS=("$1"); shift
else
  VERSIONS=("${ALL_VERSIONS[@]}")
fi

find_python311() {
  for p in "${PYTHON311:-}" python3.11 python3; do
    [[ -z "$p" ]] && continue
    if command -v "$p" >/dev/null 2>&1 && \
       "$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$p"; return 0
    fi
  done
  echo "error: bpy needs Python 3.11; set PYTHON311" >&2; return 1
}

# The main environment's Python runs the backend for the end-to-end tests.
export MOMUG_PYTHON="${MOMUG_PYTHON:-$(command -v python3)}"

status=0
for v in "${VERSIONS[@]}"; do
  venv="$VENVS/bpy-$v"
  if ! "$venv/bin/python" -c "import bpy, pytest" >/dev/null 2>&1; then
    echo "== creating $venv (bpy==$v from PyPI, about 370 MB)"
    py="$(find_python311)"
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q "bpy==$v" pytest
  fi
  echo "== Blender $v"
  # -p no:cacheprovider: keep the source tree clean; the conftest unregisters everything at the
  # end, since bpy 4.5 does not exit while an add-on class is still registered.
  (cd "$ROOT" && "$venv/bin/python" -m pytest tests/blender_addon -q -rs -p no:cacheprovider "$@") || status=1
done
exit $status
