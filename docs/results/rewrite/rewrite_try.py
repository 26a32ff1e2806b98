"""One-off check (docs/training.md, "Rewriting prompts into the corpus' words with the base model"):
few-shot greedy rewrites by the frozen base Gemma 3 270M.  python docs/results/rewrite/rewrite_try.py"""
import time, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from momug.model.base_llm import ensure_gemma_cache
p = ensure_gemma_cache()
tok = AutoTokenizer.from_pretrained(p); m = AutoModelForCausalLM.from_pretrained(p); m.eval()
torch.set_num_threads(1)
shots = [
 ("a man strolls down the road", "a person walks forward."),
 ("the lady hurries along", "a person walks forward quickly."),
 ("someone spins around to their right", "a person turns right."),
 ("a guy lifts both arms over his head", "a person raises both arms."),
 ("she bounces up and down in one spot", "a person jumps in place."),
 ("a boy crouches low", "a person squats down."),
 ("the elderly lady shuffles forward", "a person walks forward slowly."),
 ("someone jogs a bit then greets with the left hand", "a person jogs forward, then waves with the left hand."),
 ("a dancer boots the ball with the right foot", "a person kicks with the right leg."),
 ("the runner goes all out", "a person runs forward quickly."),
]
head = "Rewrite each motion description in plain words.\n\n" + "".join(f"Input: {a}\nPlain: {b}\n\n" for a,b in shots)
tests = ["someone breaks into a run","someone runs flat out","a woman sprints down the street","a tired man plods ahead",
 "an exhausted woman drags herself forward","a woman walks along casually","someone applauds","someone gives a round of applause",
 "someone makes an enormous leap upward","someone takes a small hop","hops on the spot","the figure leaps up off the ground",
 "a woman dawdles forward","full of pep, someone walks forward","the old man turns toward his left","a person walks forward.",
 "a person kicks with the left leg.", "a person jogs in a circle then waves"]
for t in tests:
    s = head + f"Input: {t}\nPlain:"
    ids = tok(s, return_tensors="pt")
    t0=time.time()
    with torch.no_grad(): out = m.generate(**ids, max_new_tokens=20, do_sample=False)
    txt = tok.decode(out[0, ids.input_ids.shape[1]:], skip_special_tokens=True).split("\n")[0].strip()
    print(f"{time.time()-t0:.2f}s  {t!r:50} -> {txt!r}")
