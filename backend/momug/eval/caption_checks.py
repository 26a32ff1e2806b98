"""Do captions name the action, and where it matters the side and the direction?

For test clips of the procedural corpus that hold one action, meta.jsonl records what was made
(action, side, direction, turn). A caption passes
  - action:    if it uses a word typical of that action's captions in the corpus' training split
               (in at least MIN_SHARE of them) that is not generic (typical of more than
               GENERIC_SHARE of all actions, like "person" or "then"), so paraphrases count;
  - side:      if it names the side (left/right/both) the motion used and not the other one;
  - direction: if it names the direction of travel (backward/left/right) and not the opposite
               one; forward may go unsaid ("a person walks") but must not be contradicted;
  - turn:      the same for the way a path or a turn goes (left/right).
Only clips where a check applies are counted for it.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

from momug.errors import MomugError

MIN_SHARE, GENERIC_SHARE = 0.2, 0.25
SIDE_WORDS = {"left": {"left"}, "right": {"right"}, "both": {"both"}}
DIRECTION_WORDS = {"forward": {"forward", "forwards", "ahead"}, "backward": {"backward", "backwards", "back"},
                   "left": {"left"}, "right": {"right"}}
OPPOSITE = {"left": "right", "right": "left", "forward": "backward", "backward": "forward"}


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def read_meta(data: str | Path) -> dict[str, dict]:
    path = Path(data) / "meta.jsonl"
    if not path.is_file():
        raise MomugError(f"{data} has no meta.jsonl: caption checks need the procedural corpus")
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {row["id"]: row for row in rows}


def action_words(meta: dict[str, dict], split: str = "train") -> dict[str, set[str]]:
    """action -> the words typical of its captions, less the words typical of many actions."""
    counts: dict[str, Counter] = defaultdict(Counter)
    totals: Counter = Counter()
    for row in meta.values():
        if row.get("split") != split or len(row.get("actions", [])) != 1:
            continue
        action = row["actions"][0]["action"]
        for caption in row.get("captions", []):
            counts[action].update(words(caption))
            totals[action] += 1
    typical = {a: {w for w, c in counts[a].items() if c / totals[a] >= MIN_SHARE} for a in counts}
    spread = Counter(w for ws in typical.values() for w in ws)
    generic = {w for w, n in spread.items() if n > GENERIC_SHARE * len(typical)}
    return {a: ws - generic for a, ws in typical.items()}


def _names(caption_words: set[str], value: str, table: dict[str, set[str]]) -> bool:
    opposite = OPPOSITE.get(value)
    said = bool(caption_words & table[value])
    contradicted = opposite is not None and bool(caption_words & table[opposite])
    return said and not contradicted


def check_caption(caption: str, action: dict, vocabulary: dict[str, set[str]]) -> dict[str, bool]:
    """The checks that apply to this action, each True (passed) or False."""
    seen = words(caption)
    params = action.get("params", {})
    out = {}
    if vocabulary.get(action["action"]):
        out["action"] = bool(seen & vocabulary[action["action"]])
    if params.get("side") in SIDE_WORDS:
        out["side"] = _names(seen, params["side"], SIDE_WORDS)
    if params.get("direction") == "forward":
        out["direction"] = not seen & DIRECTION_WORDS["backward"]
    elif params.get("direction") in DIRECTION_WORDS:
        out["direction"] = _names(seen, params["direction"], DIRECTION_WORDS)
    if params.get("turn") in ("left", "right"):
        out["turn"] = _names(seen, params["turn"], DIRECTION_WORDS)
    return out


def caption_checks(captions: dict[str, str], meta: dict[str, dict]) -> dict:
    """Pass rates per check over the single-action clips among `captions` (clip id -> caption)."""
    vocabulary = action_words(meta)
    passed: Counter = Counter()
    counted: Counter = Counter()
    failures = []
    for clip_id, caption in captions.items():
        row = meta.get(clip_id)
        if row is None or len(row.get("actions", [])) != 1:
            continue
        result = check_caption(caption, row["actions"][0], vocabulary)
        for name, ok in result.items():
            counted[name] += 1
            passed[name] += ok
        if not all(result.values()) and len(failures) < 10:
            failures.append({"id": clip_id, "caption": caption, "action": row["actions"][0]["action"],
                             "params": row["actions"][0].get("params", {}), "checks": result})
    rates = {name: {"pass_rate": passed[name] / counted[name], "n": counted[name]} for name in sorted(counted)}
    return {"checks": rates, "failures": failures}


# --- Expectations about captions of clips that have no corpus meta (scripts/describe_checks.py) ---
# A caption "names" an action when it uses one of the action's word forms; "walk" also counts its
# plain synonyms (a stroll is a walk), "throw" its (toss, hurl, fling). Whole words only: "walkway"
# or "kickstand" do not name a walk or a kick.
ACTION_FORMS = {
    "walk": {"walk", "walks", "walking", "walked", "stroll", "strolls", "strolling", "strolled"},
    "run": {"run", "runs", "running", "ran", "jog", "jogs", "jogging", "jogged"},
    "kick": {"kick", "kicks", "kicking", "kicked"},
    "throw": {"throw", "throws", "throwing", "threw", "thrown", "toss", "tosses", "tossing", "tossed",
              "hurl", "hurls", "hurling", "hurled", "fling", "flings", "flinging", "flung"},
}
MIN_SAMPLED_SHARE = 0.5


def names_action(caption: str, action: str) -> bool:
    """Whether the caption uses a word form of the action (ACTION_FORMS, else the word itself)."""
    return bool(words(caption) & ACTION_FORMS.get(action, {action}))


def judge_caption(caption: str, expect: dict) -> dict[str, bool]:
    """expect = {"names": [actions it must name, any one will do], "not_names": [actions it must not
    name]} -> one check per entry, e.g. {"names walk": True, "not kick": True, "not throw": False}."""
    out = {}
    wanted = list(expect.get("names", []))
    if wanted:
        out["names " + "/".join(wanted)] = any(names_action(caption, a) for a in wanted)
    for action in expect.get("not_names", []):
        out["not " + action] = not names_action(caption, action)
    if not out:
        raise MomugError("an expectation needs 'names' or 'not_names'")
    return out


def judge_clip(captions: list[dict], expect: dict, min_sampled: float = MIN_SAMPLED_SHARE) -> dict:
    """Judge one clip's captions, each {"mode": "greedy"|"beam"|"sample", "text": ...}. The clip passes
    when every deterministic caption (greedy, beam search) meets the expectation and at least
    min_sampled of the sampled ones do (a sampled caption may wander; most must not)."""
    judged = []
    for c in captions:
        checks = judge_caption(c["text"], expect)
        judged.append({**c, "checks": checks, "pass": all(checks.values())})
    fixed = [c["pass"] for c in judged if c["mode"] != "sample"]
    sampled = [c["pass"] for c in judged if c["mode"] == "sample"]
    share = sum(sampled) / len(sampled) if sampled else None
    ok = bool(judged) and all(fixed) and (share is None or share >= min_sampled)
    return {"captions": judged, "deterministic_pass": all(fixed) if fixed else None,
            "sampled_pass_rate": share, "pass": ok}
