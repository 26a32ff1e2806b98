"""What the frozen base model answers to the prompt questions (momug.model.prompt_reading.
MOTION_QUESTIONS) for the extended probe suite's single-action prompts: the most likely answer
word among a fixed list for each question, no training involved. A diagnostic of what the reading
path has to work with (the model itself reads the whole answer state, not this word).

    python docs/results/prompt_reading/zero_shot.py > docs/results/prompt_reading/zero_shot.txt
"""

import collections

import torch

from momug.eval.probes import probe_suite
from momug.model.base_llm import load_base_llm
from momug.model.prompt_reading import MOTION_QUESTIONS, PromptReader

ACTIONS = ["walk", "run", "jump", "clap", "wave", "kick", "turn", "squat", "step", "raise", "spin", "stand", "sit"]
PACES = ["slow", "normal", "fast"]
# The action word a probe's tag asks for, where one word fits the whole tag.
EXPECTED = {"jump": {"jump"}, "height": {"jump"}, "hands": {"clap"}, "leg": {"kick"}, "squat": {"squat", "sit"},
            "turn": {"turn", "spin"}}


def main() -> None:
    torch.set_num_threads(1)
    llm, tok = load_base_llm()
    llm.eval()
    reader = PromptReader(list(MOTION_QUESTIONS), tok, [tok.bos_token_id])
    words = [[tok(" " + w, add_special_tokens=False)["input_ids"][0] for w in ws] for ws in (ACTIONS, PACES)]
    probes = [p for p in probe_suite("extended") if "sequence" not in p.tags]
    ids = [tok(p.prompt, add_special_tokens=False)["input_ids"] for p in probes]
    with torch.no_grad():
        states = reader.read(llm.model, ids, "cpu")
    H = llm.config.hidden_size
    tally = collections.Counter()
    for probe, row in zip(probes, states):
        answers = []
        for q, choices in enumerate(words):
            logits = llm.lm_head(row[q * H:(q + 1) * H].to(llm.lm_head.weight.dtype))
            answers.append((ACTIONS, PACES)[q][int(logits[choices].argmax())])
        tag = probe.tags[0]
        verdict = ""
        if tag in EXPECTED:
            ok = answers[0] in EXPECTED[tag]
            tally[(probe.held_out, ok)] += 1
            verdict = "ok" if ok else "WRONG"
        print(f"{'held-out' if probe.held_out else 'corpus  '}  {tag:9s} action={answers[0]:6s} pace={answers[1]:6s}"
              f" {verdict:5s} {probe.prompt}")
    for held in (False, True):
        n = tally[(held, True)] + tally[(held, False)]
        print(f"{'held-out' if held else 'corpus'} wordings with one expected action word: "
              f"{tally[(held, True)]} of {n} answered with it")


if __name__ == "__main__":
    main()
