"""The float32 Gemma cache is built once even when two processes (or threads) ask for it at the
same moment: the second waits for the first instead of building in the same folder."""

import threading
import time

from momug.model import base_llm


def test_concurrent_first_uses_build_the_cache_once(tmp_path, monkeypatch):
    monkeypatch.setattr(base_llm, "gemma_cache_path", lambda: tmp_path / "gemma3-270m" / "float32")
    builds = []

    def slow_build(target):
        builds.append(target)
        time.sleep(0.3)  # long enough for the other caller to arrive while this one builds
        target.mkdir(parents=True)
        (target / "config.json").write_text("{}")

    monkeypatch.setattr(base_llm, "_build_gemma_cache", slow_build)
    results = []
    threads = [threading.Thread(target=lambda: results.append(base_llm.ensure_gemma_cache())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    assert results == [tmp_path / "gemma3-270m" / "float32"] * 3
