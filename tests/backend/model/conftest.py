import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")


@pytest.fixture(scope="session")
def tiny_pipeline():
    from momug.pipeline import MotionPipeline

    return MotionPipeline.load("tiny", device="cpu")
