"""Does the default slow a walk down when it denoises one? Eight onset windows of "... walks
straight ahead." from the training list, each noised to timestep t (its own seeded noise) and
denoised once with its caption, unguided: the ratio of the predicted clean motion's mean root speed
to the clip's own. At t = 999 the prediction is the model's prior for the caption and length alone.

    python docs/results/magnitude/denoiser_speed.py backend/momug/checkpoints/default CORPUS > docs/results/magnitude/denoiser_speed.txt

CORPUS: corpus_focus_merged with its onset list (configs/motion_scope_stage11.toml)."""
import sys
from pathlib import Path
import numpy as np, torch
from momug.model import checkpoint as ckpt
from momug.model import sequence as seq
torch.set_num_threads(2)
model = ckpt.from_pretrained(sys.argv[1]).eval()
folder = Path(sys.argv[2])
want = "walks straight ahead."
clips = []
for i in (folder / 'train_mirrored_steady_onset.txt').read_text().split():
    if not i.startswith('O'): continue
    caps = [l.split('#')[0] for l in (folder / 'texts' / f'{i}.txt').read_text().splitlines()]
    c = [c for c in caps if c.endswith(' ' + want) and 'then' not in c]
    if c:
        clips.append((c[0], np.load(folder / 'new_joint_vecs' / f'{i}.npy')))
    if len(clips) == 8: break
def speed(f):  # denormalised features -> mean root speed over frames
    return float(np.linalg.norm(f[:, 1:3], axis=-1).mean() * 20)
@torch.no_grad()
def predict(caption, x0n, t, seed):
    n = x0n.shape[0]
    tok = model.to_tokens(x0n)
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(tok.shape, generator=g)
    xt = model.schedule.add_noise(tok[None], noise[None], torch.tensor([t]))[0]
    ids = model.text_ids(caption)
    context = seq.pack([[seq.Text(model.bos + ids), seq.Special("som")]], model.special_index)
    som = (torch.arange(1), context.lengths - 1)
    suffix = seq.pack([[seq.Special("timestep", t), seq.Motion(xt, t)]], model.special_index, start_positions=context.lengths)
    readings = model.readings([ids])
    hidden, _ = model.run(seq.concat(context, suffix), readings=readings)
    pl = context.kind.shape[1]
    out = model.motion_prediction(hidden[:, pl:][0, 1:1 + xt.shape[0]], hidden[som][0]).float()
    x0, _ = model.schedule.split(out[None], xt[None], torch.tensor([t]))
    return model.from_tokens(x0[0], n)
ts = [999, 900, 750, 500, 250, 100]
print("t     ab    ratio(pred/true speed) per clip mean")
for t in ts:
    r = []
    for k, (cap, f) in enumerate(clips):
        x0n = model.normalize(torch.from_numpy(f).float())
        p = model.denormalize(predict(cap, x0n, t, k)).numpy()
        r.append(speed(p) / speed(f))
    print(f"{t:4d} {model.schedule.alpha_bar[t].item():.3f}  {np.mean(r):.3f}  " + " ".join(f"{x:.2f}" for x in r), flush=True)
