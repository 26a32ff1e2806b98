"""The diffusion model's DDIM sampler (as MoMugModel.sample: prompt prefixes cached, eta 0) with the
way the rows' predictions are combined left to the caller, for measurements of guidance variants
(docs/results/magnitude/guidance_schedule.py, docs/results/prompt_reading/answer_guidance.py).

Each prompt runs as several rows, one per group: groups[g] = (text_of, readings_of), two functions
of a prompt's token ids giving the ids the row reads as text and as prompt-question answers ([] for
none). combine(k, outs) gets the step index and one prediction per group and returns the one the
step follows."""

import torch

from momug.model import sequence as seq
from momug.model.diffusion import ddim_step, ddim_timesteps

WORDS = (lambda ids: ids, lambda ids: ids)   # the prompt, with its answers
EMPTY = (lambda ids: [], lambda ids: [])     # the empty prompt of classifier-free guidance


@torch.no_grad()
def sample(model, prompts, n_frames, seeds, groups, combine, steps=20):
    B, G = len(prompts), len(groups)
    ids = [model.text_ids(p) for p in prompts]
    text = [text_of(i) for text_of, _ in groups for i in ids]
    context = seq.pack([[seq.Text(model.bos + i), seq.Special("som")] for i in text], model.special_index)
    readings = model.readings([read_of(i) for _, read_of in groups for i in ids])
    som = (torch.arange(context.kind.shape[0]), context.lengths - 1)
    hidden, cache = model.run(context, use_cache=True)
    som_hidden = hidden[som]
    n_tok = -(-n_frames // model.config.frames_per_token)
    x = [torch.randn(n_tok, model.config.token_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    times = ddim_timesteps(model.config.num_train_timesteps, steps)
    for k, t in enumerate(times):
        rows = x * G
        suffix = seq.pack([[seq.Special("timestep", t), seq.Motion(r, t)] for r in rows], model.special_index,
                          start_positions=context.lengths)
        hidden, cache = model.run(suffix, context=context, cache=cache, use_cache=True, readings=readings)
        cache.crop(-suffix.kind.shape[1])
        outs = [model.motion_prediction(hidden[b, 1:1 + n_tok], som_hidden[b]).float() for b in range(G * B)]
        t_prev = times[k + 1] if k + 1 < len(times) else None
        for i in range(B):
            out = combine(k, [outs[g * B + i] for g in range(G)])
            x0, eps = model.schedule.split(out[None], x[i][None], torch.tensor([t]))
            x[i] = ddim_step(model.schedule, x0[0], eps[0], t, t_prev, 0.0)
    return [model.from_tokens(xi, n_frames) for xi in x]
