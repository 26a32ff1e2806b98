"""MotionPipeline: prompts in, Motion files out, and motions in, captions out.

The one object the CLI, the server and batch jobs use. It owns the model on its device and does
every conversion between the model's normalised features and the motion file contract
(joints in metres, Y up, local rotations by IK, root translation).
"""

from __future__ import annotations

import math

import numpy as np

from momug.errors import Cancelled, MomugError
from momug.model.registry import REGISTRY

MAX_PROMPT_CHARS = 500
MAX_STEPS = 1000
MAX_GUIDANCE = 20.0
TINY = "tiny"


def check_prompt(prompt: str, limit: int = MAX_PROMPT_CHARS) -> None:
    """The model-independent prompt checks, cheap enough to run before a model is loaded."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise MomugError("the prompt is empty; describe a motion, e.g. 'a person walks forward'")
    if len(prompt) > limit:
        raise MomugError(f"the prompt is {len(prompt)} characters long; the limit is {limit}")


def check_seconds(seconds, low: float, high: float) -> None:
    """A motion length request: finite and within the model's [low, high] seconds."""
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds)):
        raise MomugError("seconds must be a finite number")
    if not low <= seconds <= high:
        raise MomugError(f"seconds must be between {low:g} and {high:g} for this model, got {seconds:g}")


def check_joints(joints, fps: float) -> np.ndarray:
    """Joint positions to caption: (T, 22, 3), finite, at a sane frame rate. Returns them as an array."""
    joints = np.asarray(joints)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3):
        raise MomugError(f"joints must have shape (T, 22, 3), got {joints.shape}")
    if not np.isfinite(joints).all():
        raise MomugError("joints contain NaN or infinite values")
    if not (math.isfinite(fps) and 1.0 <= fps <= 240.0):
        raise MomugError(f"fps must be between 1 and 240, got {fps}")
    return joints


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise MomugError("--device cuda was asked for, but no CUDA GPU is available to torch")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise MomugError(f"unknown device '{device}' (auto, cpu or cuda)")
    return device


def tiny_model(seed: int = 0):
    """A tiny, untrained model on the tiny base LLM: fast plumbing for tests (its motion is noise)."""
    import torch

    from momug.model.checkpoint import build_model
    from momug.model.config import MoMugConfig

    torch.manual_seed(seed)
    config = MoMugConfig(base_model=TINY, frames_per_token=4, max_frames=200, lora_rank=4, lora_alpha=8)
    model = build_model(config)
    model.eval()
    return model


class MotionPipeline:
    def __init__(self, model, model_id: str, checkpoint_id: str, device: str):
        self.model = model
        self.model_id = model_id
        self.checkpoint_id = checkpoint_id
        self.device = device
        cfg = model.config
        self.fps = float(cfg.fps)
        self.min_seconds = cfg.min_frames / cfg.fps
        self.max_seconds = cfg.max_frames / cfg.fps
        self.max_prompt_chars = MAX_PROMPT_CHARS
        # The model's own guidance scale (config.json "guidance"), used where a request gives none.
        self.guidance = float(cfg.guidance)

    @classmethod
    def load(cls, checkpoint: str | None = None, device: str = "auto") -> "MotionPipeline":
        """checkpoint: a folder, None for the shipped default, or "tiny" (untrained, for tests)."""
        from momug.model import checkpoint as ckpt

        device = pick_device(device)
        if checkpoint == TINY:
            return cls(tiny_model().to(device), TINY, "tiny-untrained", device)
        folder = ckpt.checkpoint_folder(checkpoint)
        model = ckpt.from_pretrained(folder, device=device)
        name = REGISTRY.name_of(folder)   # a shipped model (default, real) is known by its name
        model_id = f"momug-{name}" if name else folder.resolve().name
        return cls(model, model_id, ckpt.checkpoint_id(folder), device)

    # ------------------------------------------------------------------ checks
    def validate_request(self, prompt: str, seconds: float, steps: int = 20, guidance: float | None = None) -> None:
        check_prompt(prompt, self.max_prompt_chars)
        check_seconds(seconds, self.min_seconds, self.max_seconds)
        if not 1 <= int(steps) <= MAX_STEPS:
            raise MomugError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
        guidance = self.guidance if guidance is None else guidance
        if not (math.isfinite(guidance) and 0.0 <= guidance <= MAX_GUIDANCE):
            raise MomugError(f"guidance must be between 0 and {MAX_GUIDANCE:g}, got {guidance}")

    def validate_motion(self, joints: np.ndarray, fps: float) -> None:
        joints = check_joints(joints, fps)
        seconds = (len(joints) - 1) / fps
        if seconds * self.fps + 1 < 4:
            raise MomugError(f"the motion is too short to describe ({len(joints)} frames)")

    # ------------------------------------------------------------------ jobs
    def generate(self, prompts: list[str], seconds: list[float], seeds: list[int], guidance: float | None = None,
                 steps: int = 20, progress=None, should_stop=None, clean_feet: bool = True,
                 raw: bool = False, constraints=None, details: list | None = None,
                 split_sequences: bool = True) -> list:
        """One motion per prompt (see _generate for the options). split_sequences: a prompt that names
        actions in order ("walks forward then waves", momug.prompt_steps) is made step by step, each
        action from its own prompt and continued from the motion so far, over its share of the length
        (sequence_plan: the length a step names, else equal shares); the model alone, given the whole
        sentence, often does only one of the actions. Not for constrained motions."""
        if not (len(prompts) == len(seconds) == len(seeds)):
            raise MomugError("prompts, seconds and seeds must have the same length")
        options = dict(guidance=guidance, steps=steps, should_stop=should_stop, clean_feet=clean_feet, raw=raw)
        plans = [None] * len(prompts)
        if split_sequences and constraints is None:
            for i, (prompt, s) in enumerate(zip(prompts, seconds)):
                self.validate_request(prompt, s, steps, guidance)
                plan = self.sequence_plan(prompt, s)
                plans[i] = plan if len(plan) > 1 else None
        if all(plan is None for plan in plans):
            return self._generate(prompts, seconds, seeds, progress=progress, constraints=constraints,
                                  details=details, **options)
        whole = [i for i, plan in enumerate(plans) if plan is None]
        phases = (1 if whole else 0) + max(len(plan) for plan in plans if plan)
        done = [0]

        def phase_progress(fraction):
            if progress is not None:
                progress((done[0] + fraction) / phases)

        out: list = [None] * len(prompts)
        if whole:
            for i, motion in zip(whole, self._generate([prompts[i] for i in whole], [seconds[i] for i in whole],
                                                       [seeds[i] for i in whole], progress=phase_progress,
                                                       **options)):
                out[i] = motion
            done[0] += 1
        from momug.constraints import continuing
        from momug.motion.motionfile import Motion

        so_far: dict[int, np.ndarray] = {}
        planned = [i for i, plan in enumerate(plans) if plan]
        for k in range(phases - done[0]):
            todo = [i for i in planned if k < len(plans[i])]
            cons = [None if k == 0 else continuing(so_far[i], plans[i][k][1]) for i in todo]
            motions = self._generate([plans[i][k][0] for i in todo], [plans[i][k][1] / self.fps for i in todo],
                                     [seeds[i] + k for i in todo], progress=phase_progress,
                                     constraints=None if k == 0 else cons, **options)
            for i, motion in zip(todo, motions):
                so_far[i] = motion.joints if k == 0 else np.concatenate([so_far[i], motion.joints])
            done[0] += 1
        for i in planned:
            out[i] = Motion(joints=so_far[i].astype(np.float32), fps=self.fps,
                            prompt=prompts[i].strip(), made_from=[step for step, _ in plans[i]]).with_rotations()
        return out

    def sequence_plan(self, prompt: str, seconds: float) -> list[tuple[str, int]]:
        """The (prompt, frames) steps generate() makes a motion of this length from
        (momug.prompt_steps.plan_steps, with this model's frame rate and shortest motion)."""
        from momug.prompt_steps import plan_steps

        return plan_steps(prompt, seconds, self.fps, self.min_seconds)

    def _generate(self, prompts: list[str], seconds: list[float], seeds: list[int], guidance: float | None = None,
                  steps: int = 20, progress=None, should_stop=None, clean_feet: bool = True,
                  raw: bool = False, constraints=None, details: list | None = None) -> list:
        """One motion per prompt, with the jumps at token seams mended, the jitter low-passed and
        (clean_feet) planted feet held still (momug.motion.cleanup); raw=True skips all three, for
        evaluations that judge the model itself. guidance: the classifier-free guidance scale (None:
        the model's own, self.guidance). constraints[i] (momug.constraints.Constraints or None) conditions motion
        i on known poses, a path or kept joints; its frame count replaces seconds[i], and the
        motion comes back in the constraints' world frame with them met exactly. details, a list,
        gets one dict per constrained motion with its joints before the exact projection
        ("sampled": the whole sampled timeline, world placed; "unguided": the model's last
        prediction before the constraints pulled it), for benchmarks."""
        from momug.constraints import Guide, project
        from momug.motion.cleanup import finish_motion, mend_seams, smooth_jitter
        from momug.motion.features import features_to_joints
        from momug.motion.motionfile import Motion

        if not (len(prompts) == len(seconds) == len(seeds)):
            raise MomugError("prompts, seconds and seeds must have the same length")
        constraints = list(constraints) if constraints is not None else [None] * len(prompts)
        if len(constraints) != len(prompts):
            raise MomugError("constraints must have one entry (or None) per prompt")
        for p, s, c in zip(prompts, seconds, constraints):
            self.validate_request(p, s if c is None else c.frames / self.fps, steps, guidance)
            if c is not None:
                self.validate_constraints(c)
        frames = [int(round(s * self.fps)) if c is None else c.total for s, c in zip(seconds, constraints)]
        import torch

        guides = [None if c is None else Guide(c) for c in constraints]
        model = self.model

        def torch_guide(guide):
            if guide is None:
                return None

            def apply(x0):
                feats = model.denormalize(x0.to(model.mean.device)).double().cpu().numpy()
                out = torch.from_numpy(guide(feats)).to(model.mean)
                return model.normalize(out)
            return apply

        extra = {} if all(g is None for g in guides) else {"guides": [torch_guide(g) for g in guides]}
        feats = self.model.sample([p.strip() for p in prompts], frames, seeds, guidance=guidance, steps=steps,
                                  progress=progress, should_stop=should_stop, **extra)
        motions = []
        period = self.model.config.frames_per_token
        for prompt, f, c, guide in zip(prompts, feats, constraints, guides):
            made = self.model.denormalize(f.to(self.model.mean.device)).float().cpu().numpy()
            if not np.isfinite(made).all():
                raise MomugError("the model produced NaN values; try another seed")
            joints = features_to_joints(made.astype(np.float64))
            if c is not None:
                joints = place(joints, *guide.placement(made.astype(np.float64)))
                if details is not None:
                    details.append({"sampled": joints.copy(), "unguided": getattr(guide, "unguided", None)})
                if not raw:
                    joints = smooth_jitter(mend_seams(joints, period), self.fps)
                joints = project(joints, c, clean_feet=clean_feet and not raw, fps=self.fps)
            elif not raw:
                joints = finish_motion(joints, self.fps, period, clean_feet)
            joints = joints.astype(np.float32)
            motions.append(Motion(joints=joints, fps=self.fps, prompt=prompt.strip()).with_rotations())
        return motions

    def validate_constraints(self, c) -> None:
        """The loaded model's limits on a constrained motion (its length with context)."""
        from momug.constraints import ConstraintError

        limit = self.model.config.max_frames
        if c.total > limit:
            raise ConstraintError(f"{c.frames} frames plus {c.total - c.frames} of context is longer than "
                                  f"this model makes ({limit} frames)")

    def caption(self, joints: list[np.ndarray], fps: list[float], progress=None, should_stop=None,
                **options) -> list[str]:
        import torch

        from momug.motion.convert import resample
        from momug.motion.cycles import as_motion
        from momug.motion.features import joints_to_features
        from momug.motion.motionfile import Motion

        feats = []
        for j, f in zip(joints, fps):
            self.validate_motion(j, f)
            motion = Motion(joints=np.asarray(j, dtype=np.float32), fps=float(f))
            if abs(motion.fps - self.fps) > 1e-6:
                motion = resample(motion, self.fps)
            # An animation loop in place (a Mixamo walk) is captioned as the motion it stands for.
            motion = Motion(joints=as_motion(motion.joints, motion.fps)[0].astype(np.float32), fps=motion.fps)
            limit = self.model.config.max_frames
            x = joints_to_features(motion.joints[: limit + 1].astype(np.float64))
            x = torch.from_numpy(x.astype(np.float32))
            feats.append(self.model.normalize(x.to(self.model.mean.device)).cpu())
        texts = self.model.describe(feats, should_stop=should_stop, **options)
        if progress is not None:
            progress(1.0)
        return texts


def place(joints: np.ndarray, theta: float, shift: np.ndarray) -> np.ndarray:
    """Joints in the features' frame turned by theta about +Y and moved by shift (x, z)."""
    from momug.constraints import yaw_about
    from momug.motion import quaternion as Q

    out = Q.rotate(np.broadcast_to(yaw_about(theta), joints.shape[:-1] + (4,)), joints)
    out[..., 0] += shift[0]
    out[..., 2] += shift[1]
    return out


__all__ = ["MotionPipeline", "Cancelled", "check_prompt", "pick_device", "tiny_model"]
