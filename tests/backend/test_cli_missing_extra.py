"""`pip install -e .` without the model extra: `momug generate` says in one line what to install
instead of ending in a ModuleNotFoundError traceback."""

import subprocess
import sys

# Run the CLI with transformers (part of the model extra) made unimportable.
HIDE_TRANSFORMERS = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('transformers', 'peft'):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return None
sys.meta_path.insert(0, Hide())
from momug.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_generate_without_the_model_extra_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-c", HIDE_TRANSFORMERS, "generate", "a person walks forward",
                             "--seconds", "2", "-o", str(tmp_path / "out.npz")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install -e '.[model]'" in lines[0] and "transformers" in lines[0]
    assert not (tmp_path / "out.npz").exists()
