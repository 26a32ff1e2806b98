import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    # Tests run beside training jobs on small machines: keep torch to one thread.
    torch.set_num_threads(1)


@pytest.fixture
def flow_conditions():
    """install(model, guided=False) -> a list that records what the flow head is asked to sample from
    from then on: each call's condition (guided: its (conditional, unconditional) pair)."""
    def install(model, guided: bool = False) -> list:
        seen = []
        if guided:
            real = model.flow.sample_guided

            def spy_guided(cond, uncond, w, **kw):
                seen.append((cond.clone(), uncond.clone()))
                return real(cond, uncond, w, **kw)

            model.flow.sample_guided = spy_guided
        else:
            real = model.flow.sample

            def spy(cond, **kw):
                seen.append(cond.clone())
                return real(cond, **kw)

            model.flow.sample = spy
        return seen

    return install
