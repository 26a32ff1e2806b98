import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    # Tests run beside training jobs on small machines: keep torch to one thread.
    torch.set_num_threads(1)
