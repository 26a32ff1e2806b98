import pytest

torch = pytest.importorskip("torch")


@pytest.fixture
def corpus_without_meta(tmp_path):
    """make(corpus) -> a copy of that corpus without its meta.jsonl (each clip's actions)."""
    import shutil

    def make(corpus):
        copy = tmp_path / "without_meta"
        shutil.copytree(corpus, copy)
        (copy / "meta.jsonl").unlink()
        return copy

    return make


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


@pytest.fixture
def contrast_model():
    """The tiny streaming model, moved off its initialisation, reading input latents without noise so
    that a second pass over a row sees the same inputs as the first (the contrast tests)."""
    from momug.stream.pipeline import move_off_initialisation, tiny_stream_model

    model, _ = tiny_stream_model(seed=0)
    model.config.latent_noise = 0.0
    move_off_initialisation([*model.mot.motion.parameters(), *model.flow.parameters(), *model.adapter.parameters()],
                            seed=0)
    return model


@pytest.fixture
def flow_errors():
    """install(model) -> a list that records every per-target flow error the model computes from then on."""
    def install(model) -> list:
        seen, real = [], model.flow.errors

        def spy(x0, cond, generator=None):
            err = real(x0, cond, generator)
            seen.append(err.detach().clone())
            return err

        model.flow.errors = spy
        return seen

    return install


@pytest.fixture
def motion_grads():
    """grads(model, texts, latents, **loss_options) -> the gradients of the model's motion weights (those
    that read the prompt: the text itself goes through frozen weights) under that training loss."""
    def grads(model, texts, latents, **options):
        params = [p for p in model.mot.motion.parameters() if p.requires_grad]
        model.zero_grad()
        model.training_loss(texts, latents, generator=torch.Generator().manual_seed(0), **options)["loss"].backward()
        return [p.grad.clone() for p in params]

    return grads


@pytest.fixture
def tiny_vae():
    """make(folder) -> an untrained small VAE for a corpus folder's features (batch tests)."""
    def make(folder):
        from momug.stream import vae as V

        return V.MotionVAE(V.VAEConfig(feature_dim=folder.feature_dim, latent_dim=8, channels=16, res_blocks=1))

    return make


# A `momug stream train` config for a seconds-long run of the tiny model; tests format it with their
# own data, output, VAE and step count, and add settings to [train] with str.replace.
TINY_STREAM_CONFIG = """
data = "{data}"
output = "{out}"
vae = "{vae}"

[model]
base_model = "tiny"
mot_rank = 4
flow_width = 32
flow_depth = 1
flow_steps = 2

[train]
batch_size = 4
max_steps = {steps}
warmup_steps = 1
log_every = 2
val_every = 2
val_batches = 1
save_every = 2
"""


@pytest.fixture(scope="session")
def tiny_stream_config() -> str:
    return TINY_STREAM_CONFIG
