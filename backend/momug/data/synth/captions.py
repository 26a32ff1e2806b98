"""HumanML3D-style captions for synthetic motions.

Each action's parameters become a handful of verb phrases with varied wording and synonyms; a
sequence joins them with "then". The wide vocabulary (`momug data synth --vocabulary wide`) adds
more verbs, adverbs and subjects for the same motions, each list's extras after its base phrases,
so the base corpus stays what it was; the rich one (`--vocabulary rich`) adds more again (RICH_*)
on top of the wide one. Side and direction words come straight from the parameters, which
are relative to the body ("to the left" = toward the body's own left). Words that the evaluation
probes hold out as unseen paraphrases (e.g. "stroll", "leap", "applaud", "twirl") are never used.
"""

from __future__ import annotations

import copy

import numpy as np

SUBJECTS = [
    ("a person", "their"), ("the person", "their"), ("someone", "their"), ("a man", "his"), ("the man", "his"),
    ("a woman", "her"), ("the woman", "her"), ("a human", "their"), ("person", "their"),
]
WIDE_SUBJECTS = [("somebody", "their"), ("an individual", "their"), ("a guy", "his"), ("a girl", "her")]
NUMBER = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times"}
COUNT_WORD = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def _more(wide: bool, *extras: str) -> list[str]:
    """A list's extra phrases in the wide vocabulary."""
    return list(extras) if wide else []


def _speed(label: str, wide: bool = False) -> tuple[list[str], list[str]]:
    """(adverbs after the verb, adverbs before it) for a speed label."""
    return {
        "slow": (["slowly", "at a slow pace", "leisurely"] + _more(wide, "gently", "calmly"), ["slowly"]),
        "normal": (["", "", "at a normal pace", "steadily"], [""]),
        "fast": (["quickly", "fast", "briskly", "at a fast pace"] + _more(wide, "swiftly", "at full speed",
                                                                            "in a hurry"), ["quickly"]),
    }[label]


LOCO_VERBS = {
    "walk": ["walks", "walks", "moves"],
    "jog": ["jogs", "jogs", "runs at a jog"],
    "run": ["runs", "runs", "dashes"],
    "sneak": ["sneaks", "tiptoes", "creeps"],
    "march": ["marches", "marches", "walks like a soldier"],
    "limp": ["limps", "hobbles", "walks with a limp"],
    "skip": ["skips", "skips", "skips along"],
}
WIDE_LOCO_VERBS = {"walk": ["goes", "paces", "heads"], "jog": ["trots"], "run": ["races", "rushes", "hurries"],
                   "sneak": ["slinks"], "march": ["parades"]}


def _loco(p: dict, poss: str, wide: bool = False) -> list[str]:
    gait, path = p["gait"], p["path"]
    if gait == "walk_backward":
        return ["walks backward", "walks backwards", "steps backward", "moves backwards", "backs up",
                "takes a few steps back", "walks in reverse"] + _more(
                    wide, "steps back", "goes backwards", "moves back without turning around") + (
                    ["slowly walks backwards", "walks backward slowly"] if p["speed"] == "slow" else [])
    if gait == "sidestep":
        d = p["direction"]
        return [f"sidesteps to the {d}", f"steps sideways to {poss} {d}", f"side steps to the {d}",
                f"moves sideways to the {d}", f"takes side steps toward {poss} {d}", f"steps to the {d} sideways"
                ] + _more(wide, f"slides sideways to the {d}", f"moves laterally to {poss} {d}",
                          f"crab walks to the {d}", f"travels sideways to the {d}")
    after, before = _speed(p.get("speed", "normal"), wide)
    verbs = LOCO_VERBS[gait] + (WIDE_LOCO_VERBS.get(gait, []) if wide else [])
    out = []
    for verb in verbs:
        adv = after[len(out) % len(after)]
        tail = f" {adv}" if adv else ""
        if path == "straight":
            out += [f"{verb} forward{tail}", f"{verb} straight ahead{tail}", f"{verb} forward in a straight line{tail}"]
        elif path == "curve":
            t = p["turn"]
            out += [f"{verb} forward while curving to the {t}{tail}", f"{verb} in a curve to the {t}{tail}",
                    f"{verb} forward and veers {t}{tail}", f"{verb} along a path that bends to the {t}{tail}"]
        else:
            sense = "counterclockwise" if p["turn"] == "left" else "clockwise"
            t = p["turn"]
            out += [f"{verb} in a circle{tail}", f"{verb} in a {sense} circle{tail}",
                    f"{verb} around in a circle to the {t}{tail}", f"{verb} in a full circle turning {t}{tail}"]
    if before[0] and path == "straight":
        out.append(f"{before[0]} {verbs[0]} forward")
    if gait == "limp":
        hurt = p["hurt"]
        out += [f"limps forward favoring {poss} {'left' if hurt == 'right' else 'right'} leg",
                f"walks forward with a limp in {poss} {hurt} leg", f"limps forward on an injured {hurt} leg"]
    if gait == "march":
        out.append(f"marches forward lifting {poss} knees high")
    if gait == "run" and p.get("speed") == "fast":
        out.append("runs forward very fast")
    return out


def _turn(p: dict, poss: str, wide: bool = False) -> list[str]:
    d, a = p["direction"], p["angle"]
    sense = "counterclockwise" if d == "left" else "clockwise"
    if a == 180:
        return ["turns around", f"turns around to the {d}", f"turns around over {poss} {d} shoulder",
                "turns to face the opposite direction", "does a half turn", f"turns {d} until facing backward"]
    if a == 45:
        return [f"turns slightly to the {d}", f"turns a little to {poss} {d}", f"makes a small turn {d}"]
    words = {90: "ninety degrees", 135: "a hundred and thirty five degrees"}[a]
    return [f"turns {d}", f"turns to the {d}", f"turns to {poss} {d}", f"turns {words} to the {d}",
            f"pivots to the {d}", f"turns {sense} in place", f"faces to the {d}"] + _more(
            wide, f"swivels to the {d}", f"swings around to {poss} {d}")


def _spin(p: dict, poss: str, wide: bool = False) -> list[str]:
    d = p["direction"]
    sense = "counterclockwise" if d == "left" else "clockwise"
    if p["angle"] == 720:
        return ["spins around twice", f"spins around two times to the {d}", "turns around in two full circles",
                f"spins {sense} twice"]
    return ["spins around", "spins in a full circle", "turns all the way around", f"spins around to the {d}",
            f"spins {sense}", "does a full turn in place", "spins once in place"] + _more(
            wide, "whirls around", "pirouettes", "does a full rotation")


def _jump(p: dict, poss: str, wide: bool = False) -> list[str]:
    n = int(p["count"])
    h = p.get("height", "low")
    if n == 1:
        out = ["jumps", "jumps in place", "jumps up", "jumps up and lands", "jumps straight up"] + _more(
            wide, "springs up", "jumps into the air", "bounds upward", "bounces up into the air")
        out += ["jumps high", "does a big jump"] if h == "high" else ["does a small jump", "jumps a little"]
    else:
        out = [f"jumps {NUMBER[n]}", "jumps up and down", f"jumps in place {NUMBER[n]}", f"does {COUNT_WORD[n]} jumps"
               ] + _more(wide, "bounces up and down", f"springs into the air {NUMBER[n]}")
        out += ["jumps up and down high"] if h == "high" else ["does small jumps in place"]
    return out


def _jump_forward(p: dict, poss: str, wide: bool = False) -> list[str]:
    n = int(p["count"])
    if n == 1:
        return ["jumps forward", "jumps ahead", "does a jump forward", "jumps forward with both feet",
                "hops forward with both feet"] + _more(wide, "bounds forward", "springs forward")
    return [f"jumps forward {NUMBER[n]}", f"does {COUNT_WORD[n]} jumps forward", "jumps forward a few times"]


def _hop(p: dict, poss: str, wide: bool = False) -> list[str]:
    s = p["side"]
    return [f"hops on {poss} {s} leg", f"hops on the {s} foot", "hops on one leg", f"jumps on {poss} {s} foot",
            f"hops in place on {poss} {s} leg", f"lifts one foot and hops on the {s} leg"]


def _kick(p: dict, poss: str, wide: bool = False) -> list[str]:
    s = p["side"]
    if p["count"] == 2:
        return [f"kicks twice with {poss} {s} leg", f"kicks {NUMBER[2]} with the {s} foot", f"does two {s} kicks",
                f"kicks forward with {poss} {s} foot two times"]
    return [f"kicks with {poss} {s} leg", f"kicks forward with {poss} {s} foot", f"does a kick with the {s} leg",
            f"kicks something with {poss} {s} foot", f"kicks {poss} {s} leg out in front"] + _more(
            wide, f"punts with {poss} {s} foot", f"swings {poss} {s} leg forward in a kick",
            f"strikes out with the {s} foot")


def _balance(p: dict, poss: str, wide: bool = False) -> list[str]:
    s = p["side"]
    o = "left" if s == "right" else "right"
    return [f"balances on {poss} {s} leg", f"stands on {poss} {s} foot", "stands on one leg",
            f"lifts {poss} {o} foot and balances", "balances on one leg with arms out to the sides",
            f"raises {poss} {o} leg and keeps balance on the {s} one"]


def _hand(side: str, poss: str, plural="hand") -> str:
    return f"both {plural}s" if side == "both" else f"{poss} {side} {plural}"


def _wave(p: dict, poss: str, wide: bool = False) -> list[str]:
    s = p["side"]
    if s == "both":
        return ["waves with both hands", "waves both arms", f"waves both hands above {poss} head",
                "raises both hands and waves", "waves with both arms in the air"]
    return [f"waves with {poss} {s} hand", f"waves {poss} {s} hand", f"waves hello with {poss} {s} hand",
            f"raises {poss} {s} hand and waves", f"waves {poss} {s} arm", f"waves using the {s} hand"] + _more(
            wide, f"waves goodbye with {poss} {s} hand", f"gives a wave with the {s} arm",
            f"signals with {poss} {s} hand")


def _raise(p: dict, poss: str, wide: bool = False) -> list[str]:
    s = p["side"]
    if s == "both":
        return ["raises both arms", f"raises {poss} arms above {poss} head", "lifts both arms up",
                f"puts {poss} hands up in the air", "raises both hands over the head", "holds both arms up"]
    return [f"raises {poss} {s} arm", f"lifts {poss} {s} hand above {poss} head", f"raises the {s} hand",
            f"puts {poss} {s} arm up in the air", f"holds {poss} {s} arm up"]


def _clap(p: dict, poss: str, wide: bool = False) -> list[str]:
    n = int(p["count"])
    return ["claps", f"claps {poss} hands", f"claps {NUMBER.get(n, 'several times')}", "claps several times",
            f"claps {poss} hands together", "brings the hands together and claps"] + _more(
            wide, f"puts {poss} hands together", "cheers and claps", "slaps the palms together")


def _point(p: dict, poss: str, wide: bool = False) -> list[str]:
    s, d = p["side"], p["direction"]
    if d == "forward":
        return [f"points forward with {poss} {s} hand", f"points ahead with the {s} arm",
                f"uses {poss} {s} hand to point forward", f"points straight ahead with {poss} {s} arm"]
    if d == "side":
        return [f"points to the {s} with {poss} {s} hand", f"points to {poss} {s}", f"points {s} with the {s} arm",
                f"stretches out the {s} arm and points to the side"]
    return [f"points up with {poss} {s} hand", f"points upward with the {s} arm", f"points at the sky with {poss} {s} hand"]


def _punch(p: dict, poss: str, wide: bool = False) -> list[str]:
    s = p["side"]
    n = int(p["count"])
    if s == "both":
        return ["punches with both fists", "throws punches alternating left and right", "boxes in the air",
                f"punches forward {NUMBER.get(n, 'a few times')} with alternating fists", "throws a series of punches"]
    return [f"punches forward with {poss} {s} fist", f"throws {COUNT_WORD.get(n, 'a few')} punches with {poss} {s} hand",
            f"punches with the {s} hand", f"punches {NUMBER.get(n, 'several times')} with {poss} {s} arm",
            f"does {s} handed punches"]


def _throw(p: dict, poss: str, wide: bool = False) -> list[str]:
    s = p["side"]
    return [f"throws something with {poss} {s} hand", f"makes an overhand throw with {poss} {s} arm",
            f"throws a ball with the {s} hand", f"winds up and throws with {poss} {s} arm"]


def _circles(p: dict, poss: str, wide: bool = False) -> list[str]:
    d = p["direction"]
    return [f"makes circles with {poss} arms", "does arm circles", f"circles {poss} arms {d}",
            f"holds {poss} arms out and rotates them in circles", f"swings {poss} arms in small circles"]


def _squat(p: dict, poss: str, wide: bool = False) -> list[str]:
    n = int(p["count"])
    if n == 1:
        return ["squats down", "does a squat", "squats and stands back up", f"bends {poss} knees into a squat",
                "squats down and rises again"] + _more(wide, "drops into a squat", f"lowers {poss} hips and stands up",
                                                       "sinks into a squat and stands")
    return [f"does {COUNT_WORD[n]} squats", f"squats {NUMBER[n]}", "squats up and down", "does squats"]


def _crouch(p: dict, poss: str, wide: bool = False) -> list[str]:
    return ["crouches down", "crouches down and stands back up", "gets down low and rises", "ducks down",
            "crouches low for a moment", "kneels down low and gets back up"]


def _sit(p: dict, poss: str, wide: bool = False) -> list[str]:
    return ["sits down on nothing and stands up", "sits down as if on a chair and gets back up",
            "lowers into a sitting position and stands back up", "pretends to sit on a chair and stands up",
            "sits down in the air and rises again"]


def _bow(p: dict, poss: str, wide: bool = False) -> list[str]:
    if p["depth"] == "deep":
        return ["bows deeply", "takes a deep bow", "bends forward at the waist and straightens up", "bows low"]
    return ["bows", "bows slightly", "gives a small bow", "nods forward in a short bow", "leans forward in a bow"]


def _stretch(p: dict, poss: str, wide: bool = False) -> list[str]:
    if p["style"] == "side_bend":
        return ["stretches and bends from side to side", "does a side stretch with arms raised",
                f"raises {poss} arms and leans left and right", "stretches sideways with both arms up"]
    return [f"stretches {poss} arms above {poss} head", "stretches upward", "reaches up with both arms and stretches",
            f"stretches {poss} arms up toward the sky"]


def _idle(p: dict, poss: str, wide: bool = False) -> list[str]:
    return ["stands still", "stands in place", "stands and waits", "stays still", "stands without moving",
            "stands there", "waits in place swaying slightly"] + _more(wide, "remains stationary", "stays put")


def _look(p: dict, poss: str, wide: bool = False) -> list[str]:
    f = p["first"]
    o = "left" if f == "right" else "right"
    return ["looks around", f"looks to the {f} and to the {o}", f"turns {poss} head to look around",
            f"looks {f} and {o}", "glances around"]


def _in_place(kind: str):
    def phrases(p: dict, poss: str, wide: bool = False) -> list[str]:
        if kind == "march":
            return ["marches in place", "marches without moving forward", f"lifts {poss} knees high in place",
                    "marches in one spot"]
        return ["jogs in place", "runs in place", "jogs without moving forward", "jogs in one spot"]

    return phrases


def _jacks(p: dict, poss: str, wide: bool = False) -> list[str]:
    return ["does jumping jacks", "performs jumping jacks", "does star jumps", f"does {COUNT_WORD.get(p['count'] // 2, 'a few')} jumping jacks"]


PHRASES = {
    "walk": _loco, "jog": _loco, "run": _loco, "sneak": _loco, "march": _loco, "limp": _loco, "skip": _loco,
    "walk_backward": _loco, "sidestep": _loco, "turn": _turn, "spin": _spin,
    "march_in_place": _in_place("march"), "jog_in_place": _in_place("jog"),
    "jump_in_place": _jump, "jump_forward": _jump_forward, "hop_one_leg": _hop, "jumping_jacks": _jacks,
    "squat": _squat, "crouch": _crouch, "sit": _sit, "kick": _kick, "balance": _balance,
    "wave": _wave, "raise_arms": _raise, "clap": _clap, "point": _point, "punch": _punch, "throw": _throw,
    "arm_circles": _circles, "bow": _bow, "stretch": _stretch, "idle": _idle, "look_around": _look,
}

CONNECTORS = [" then ", ", then ", " and then ", ", and then "]

# The rich vocabulary: the wide one plus these subjects, verb phrases and joiners (written for
# variety, as people type; like every list here they avoid the probes' held-out phrases).
RICH_SUBJECTS = [("a kid", "their"), ("a boy", "his"), ("a young woman", "her"), ("an elderly woman", "her"),
                 ("a dancer", "their"), ("an athlete", "their"), ("a teenager", "their")]
RICH_CONNECTORS = [" and next ", ", next ", ", and next "]
RICH_SPEED = {"slow": ["at a gentle pace", "at a relaxed pace", "very slowly"],
              "normal": ["at a steady pace", "at an ordinary pace"],
              "fast": ["at high speed", "speedily", "very quickly"]}
RICH_LOCO_VERBS = {"walk": ["steps", "treads", "makes their way"], "jog": ["lopes"],
                   "run": ["bolts", "speeds", "zooms"], "sneak": ["moves stealthily"], "march": ["stomps"],
                   "skip": ["skips happily"], "limp": ["walks unevenly"]}


def _rich_loco(p: dict, poss: str) -> list[str]:
    gait, path = p["gait"], p["path"]
    if gait == "walk_backward":
        return ["walks back", "steps backwards a few times", "moves backward step by step"]
    if gait == "sidestep":
        d = p["direction"]
        return [f"steps sideways toward the {d}", f"moves to the {d} with side steps", f"side steps toward {poss} {d}"]
    out = []
    adverbs = RICH_SPEED[p.get("speed", "normal")]
    for k, verb in enumerate(RICH_LOCO_VERBS.get(gait, [])):
        verb = verb.replace("their", poss)
        adv = adverbs[k % len(adverbs)]
        if path == "straight":
            out += [f"{verb} forward {adv}", f"{verb} ahead {adverbs[(k + 1) % len(adverbs)]}"]
        elif path == "curve":
            out += [f"{verb} forward, curving {p['turn']} {adv}"]
        else:
            out += [f"{verb} in a circle toward the {p['turn']} {adv}"]
    return out


def _rich_jump(p: dict, poss: str) -> list[str]:
    high = p.get("height", "low") == "high"
    if int(p["count"]) == 1:
        return ["jumps up high", "makes a high jump", "jumps really high"] if high else [
            "does a little jump", "makes a low jump", "jumps just a bit"]
    return ["keeps jumping up high"] if high else ["keeps doing little jumps"]


RICH_PHRASES = {
    **{g: _rich_loco for g in ("walk", "jog", "run", "sneak", "march", "limp", "skip", "walk_backward", "sidestep")},
    "jump_in_place": _rich_jump,
    "turn": lambda p, poss: [] if p["angle"] == 180 else [f"turns {poss} body to the {p['direction']}",
                                                            f"twists around to the {p['direction']}",
                                                            f"changes direction to the {p['direction']}"],
    "spin": lambda p, poss: ["spins all the way around", "goes around in a full turn"],
    "kick": lambda p, poss: [f"kicks out with {poss} {p['side']} leg", f"delivers a kick with the {p['side']} foot",
                             f"lifts {poss} {p['side']} leg and kicks"],
    "clap": lambda p, poss: ["claps loudly", "claps a few times", f"beats {poss} palms together"],
    "wave": lambda p, poss: [] if p["side"] == "both" else [f"waves at someone with {poss} {p['side']} hand",
                                                            f"shakes {poss} {p['side']} hand in the air"],
    "squat": lambda p, poss: ["squats low", "bends down into a squat"] if int(p["count"]) == 1 else [],
    "idle": lambda p, poss: ["stands around", "is standing still", "keeps still"],
    "raise_arms": lambda p, poss: ["reaches up with both hands", "stretches both arms up high"]
    if p["side"] == "both" else [f"reaches up with {poss} {p['side']} hand"],
}


# base: the first corpus's wording; wide: more verbs, adverbs and subjects; rich: the wide
# vocabulary plus RICH_*. both and all list each motion's captions in several of them in turn.
COMBINED = {"both": ("base", "wide"), "all": ("base", "wide", "rich")}
VOCABULARIES = ("base", "wide", "both", "rich", "all")


def phrases(name: str, params: dict, poss: str = "their", wide: bool = False, rich: bool = False) -> list[str]:
    extra = RICH_PHRASES.get(name) if rich else None
    return PHRASES[name](params, poss, wide or rich) + (extra(params, poss) if extra else [])


def captions(actions: list[tuple[str, dict]], rng: np.random.Generator, n: int = 3,
             vocabulary: str = "base") -> list[str]:
    """n distinct captions for a sequence of (action name, params), in the base, wide or rich
    vocabulary; "both" gives the base draw then the wide draw from the same generator state (2n
    captions, so each is what that vocabulary alone would give; a caption both draws make is listed
    twice), "all" the base, wide and rich draws the same way (3n)."""
    if vocabulary not in VOCABULARIES:
        raise ValueError(f"vocabulary must be one of {', '.join(VOCABULARIES)}, not {vocabulary!r}")
    if vocabulary in COMBINED:
        # Every draw but the last from a copy of the generator state, so each list is what that
        # vocabulary alone would give; the last one advances the caller's generator.
        *copies, last = COMBINED[vocabulary]
        out = [c for v in copies for c in captions(actions, copy.deepcopy(rng), n, v)]
        return out + captions(actions, rng, n, last)
    rich = vocabulary == "rich"
    wide = vocabulary == "wide" or rich
    subjects = SUBJECTS + (WIDE_SUBJECTS if wide else []) + (RICH_SUBJECTS if rich else [])
    connectors = CONNECTORS + (RICH_CONNECTORS if rich else [])
    out: list[str] = []
    tries = 0
    while len(out) < n and tries < 50:
        tries += 1
        subject, poss = subjects[int(rng.integers(len(subjects)))]
        parts = []
        for name, params in actions:
            options = phrases(name, params, poss, wide, rich)
            parts.append(options[int(rng.integers(len(options)))])
        text = parts[0]
        for k, part in enumerate(parts[1:]):
            joiner = connectors[int(rng.integers(len(connectors)))] if k == 0 else ", then " if rng.random() < 0.5 else " and then "
            text += joiner + part
        if len(parts) > 1 and rng.random() < 0.2:
            text = "first " + text
        caption = f"{subject} {text}."
        if caption not in out:
            out.append(caption)
    return out
