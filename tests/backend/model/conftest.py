import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")


@pytest.fixture(scope="session")
def tiny_pipeline():
    from momug.pipeline import MotionPipeline

    return MotionPipeline.load("tiny", device="cpu")


@pytest.fixture(scope="session")
def live_adapter_model():
    """Factory of tiny random models whose adapter matters: peft starts LoRA B at zero (and the
    prompt projection at a no-op), so those are filled with seeded noise of the given scale."""
    from momug.model import checkpoint as ckpt
    from momug.model.config import MoMugConfig

    def build(scope: str, *, train: bool = False, scale: float = 0.5, prompt_projection: bool = False,
              questions: tuple[str, ...] = (), answers: tuple[str, ...] = ()):
        """questions, answers: MoMugConfig.prompt_questions, prompt_answers; their projection gets
        noise too."""
        torch.manual_seed(0)
        config = MoMugConfig(base_model="tiny", frames_per_token=4, max_frames=200, lora_rank=4, lora_alpha=8,
                             adapter_scope=scope, prompt_questions=list(questions),
                             prompt_answers=list(answers))
        model = ckpt.build_model(config).train(train)
        g = torch.Generator().manual_seed(1)
        noisy = ("prompt_proj",) * prompt_projection + ("reading_proj",) * bool(questions)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name or name.startswith(noisy):
                    p.copy_(torch.randn(p.shape, generator=g) * scale)
        return model

    return build
