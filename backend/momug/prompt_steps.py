"""Prompts that name actions in order: "A then B", "after A-ing, B", "B before C-ing", "A followed by B".

The diffusion model reads a whole prompt at once and, for a sequence, often does only one of the
actions. MotionPipeline therefore splits such a prompt into steps, one plain prompt per action in
time order, generates the first and continues each next one from the motion so far. This module is
the text side only: `split_steps` returns the steps (a prompt that names one action comes back
alone), each a full sentence with the prompt's subject ("someone waves their left hand after
walking forward" -> "someone walks forward", "someone waves their left hand").

A step may name its own length ("walks forward for 3 seconds then waves"): `step_duration` takes it
out of the words and MotionPipeline gives that step that much of the motion.

It is a small rule set, not a parser: it splits on the connectives below, turns a gerund clause
("after jogging around") into a present-tense one and an action named as a noun ("a jog followed by a
wave") into a clause. "and" alone is never split: "walks and waves" may
mean at the same time."""

from __future__ import annotations

import re

from momug.errors import MomugError

# Connectives between clauses in time order. "next" and "finally" only after a comma or "and",
# where they cannot be part of a clause ("walks next to the wall").
_THEN = re.compile(
    r"\s*(?:[,;]|\.(?=\s))?\s*\b(?:and\s+)?(?:then|after\s+that|afterwards|afterward|after\s+which|subsequently)\b,?\s*"
    r"|\s*(?:[,;]|\.(?=\s))\s*(?:and\s+)?(?:next|finally|and\s+finally)\b,?\s*"
    r"|\s+and\s+(?:next|finally)\b,?\s*"
    r"|\s*,?\s*(?:and\s+)?followed\s+by\b\s*",
    re.IGNORECASE)
# A gerund clause led by after/before, at the start ("after clapping, A") or the end ("A before clapping").
_LEADING = re.compile(r"^(after|before|once)\s+(\w+ing\b[^,]*),\s*(.+)$", re.IGNORECASE)
_TRAILING = re.compile(r"^(.+?),?\s+(after|before)\s+(\w+ing\b.*)$", re.IGNORECASE)

_PRONOUNS = {"he", "she", "they"}
_SUBJECT_WORDS = {"someone", "somebody", "he", "she", "they", "person", "man", "woman", "child", "kid", "guy",
                  "girl", "boy", "figure", "character", "dancer", "athlete", "everyone", "one"}
_DETERMINERS = {"a", "an", "the", "this", "that", "my", "our", "your", "his", "her", "their"}
_FIRST = re.compile(r"^(?:first(?:ly)?|at\s+first)\b,?\s*", re.IGNORECASE)

# Verbs whose base form ends in a silent e, for turning "-ing" back into a verb; the fallback rules
# in _stem cover most others (shuffling, dancing, waving).
_SILENT_E = {
    "amble", "balance", "bounce", "breathe", "celebrate", "charge", "chase", "circle", "close", "come", "cycle",
    "dance", "dawdle", "dive", "dodge", "gesture", "glide", "hide", "hobble", "idle", "juggle", "leave", "lunge",
    "make", "move", "pace", "pause", "place", "poke", "pose", "prance", "race", "raise", "ride", "rise", "rotate",
    "serve", "shake", "shuffle", "sidle", "skate", "slide", "smile", "squeeze", "stride", "stumble", "take",
    "trudge", "tumble", "waddle", "wave", "wiggle", "wipe", "wobble", "gyrate", "lounge", "tiptoe", "operate",
    "imitate",
}
_IRREGULAR_ING = {"lying": "lies", "dying": "dies", "tying": "ties", "being": "is", "having": "has", "doing": "does",
                  "going": "goes", "seeing": "sees"}
_ING_NOUNS = {"nothing", "something", "anything", "everything", "morning", "evening", "thing", "king", "ring",
              "spring", "string", "ceiling", "building", "during", "sibling"}
_KEEP_DOUBLE = set("lsz")  # falling, passing, buzzing: the doubled letter belongs to the verb
# A step that starts with one of these has no verb of its own ("walks forward then back"): it
# takes the previous step's.
_VERBLESS_STARTS = {"back", "backward", "backwards", "forward", "forwards", "ahead", "left", "right", "away",
                    "around", "again", "slowly", "quickly", "fast", "faster", "slower", "to", "towards", "toward",
                    "in", "up", "down", "sideways"}

# Actions a step may name as a noun ("a jog followed by a wave"), with the verb that says the same.
_ACTION_NOUNS = {
    "walk": "walks", "stroll": "strolls", "jog": "jogs", "run": "runs", "sprint": "sprints", "dash": "dashes",
    "jump": "jumps", "hop": "hops", "leap": "leaps", "wave": "waves", "kick": "kicks", "punch": "punches",
    "spin": "spins", "turn": "turns", "bow": "bows", "squat": "squats", "crouch": "crouches", "clap": "claps",
    "stretch": "stretches", "lunge": "lunges", "throw": "throws", "sidestep": "sidesteps", "dance": "dances",
    "shrug": "shrugs", "nod": "nods", "salute": "salutes", "skip": "skips", "crawl": "crawls",
}
# Adjectives of such a noun that read as the verb's adverb ("a slow walk" -> "walks slowly").
_ADVERBS = {"slow": "slowly", "quick": "quickly", "fast": "fast", "brisk": "briskly", "gentle": "gently",
            "casual": "casually", "lazy": "lazily", "rapid": "rapidly", "steady": "steadily", "short": "briefly"}
_NOUN_STEP = re.compile(r"^(?:a|an|one)\s+((?:[a-z-]+\s+){0,3}?)(" + "|".join(_ACTION_NOUNS) + r")\b(.*)$",
                        re.IGNORECASE)

# A step's own length: "waves for 2 seconds", "walks forward for 2.5 s", "claps for a second".
_NUMBER_WORDS = {"a": 1.0, "an": 1.0, "one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "five": 5.0, "six": 6.0,
                 "seven": 7.0, "eight": 8.0, "nine": 9.0, "ten": 10.0, "half a": 0.5}
_DURATION = re.compile(
    r",?\s*\bfor\s+(\d+(?:\.\d+)?|" + "|".join(w.replace(" ", r"\s+") for w in _NUMBER_WORDS)
    + r")\s*(?:seconds?|secs?|s)\b", re.IGNORECASE)


def step_duration(step: str) -> tuple[str, float | None]:
    """(the step without its length, the length in seconds) when it names one ("someone waves for 2
    seconds." -> ("someone waves.", 2.0)); (step, None) when it does not."""
    found = list(_DURATION.finditer(step))
    if len(found) != 1:   # none, or two lengths in one step: leave the words to the model
        return step, None
    match = found[0]
    amount = match.group(1).lower()
    seconds = float(amount) if amount[0].isdigit() else _NUMBER_WORDS[" ".join(amount.split())]
    rest = (step[:match.start()] + step[match.end():]).strip()
    return re.sub(r"\s+([.,;])", r"\1", re.sub(r"\s{2,}", " ", rest)), seconds


def split_steps(prompt: str) -> list[str]:
    """The actions of prompt in time order, one full prompt each; [prompt] when it names one."""
    text = prompt.strip()
    end = "." if text.endswith(".") else ""
    body = text.rstrip(" .")
    pieces = [p for p in _THEN.split(body) if p and p.strip(" ,;.")]
    if not pieces:
        return [prompt]
    steps: list[str] = []
    for piece in pieces:
        # "... then running": a bare gerund after a connective is the next action.
        steps.extend(_present(s) for s in _subordinate(piece.strip(" ,;")))
    clauses = [_as_clause(s) for s in steps]
    named_by_noun = clauses != steps   # "a jog followed by a wave": someone has to do them
    steps = [_FIRST.sub("", s).strip() for s in clauses]
    steps[0] = _drop_first(steps[0])
    for i in range(1, len(steps)):
        if steps[i] and steps[i].split()[0].lower() in _VERBLESS_STARTS:
            steps[i] = f"{_verb_of(steps[i - 1])} {steps[i]}".strip()
    if len(steps) < 2 or any(not s for s in steps) or any(_verbless(s) for s in steps):
        return [prompt]   # "walks followed by a dog": a step that names no action is no step
    # An action named as a noun needs someone to do it: the prompt's subject, else "a person".
    subject = _lent_subject(steps) or ("a person" if named_by_noun else "")
    return [_with_subject(s, subject) + end for s in steps]


def _verbless(step: str) -> bool:
    """A noun phrase that is no action ("a dog", "the wall"): it starts like a subject and has no verb."""
    words = step.split()
    return bool(words) and words[0].lower() in _DETERMINERS and not _subject(step)


def _verb_of(step: str) -> str:
    """The step's subject and verb ("the old man walks forward" -> "the old man walks"); its verb
    alone when it names no subject."""
    subject = _subject(step)
    rest = step[len(subject):].split()
    return " ".join(([subject] if subject else []) + rest[:1])


def _drop_first(step: str) -> str:
    """"a person first walks" / "a person walks first" -> "a person walks" (not "the first mark")."""
    subject = _subject(step)
    if subject and step[len(subject):].lower().startswith(" first "):
        step = subject + step[len(subject) + len(" first"):]
    return re.sub(r",?\s+first$", "", step, flags=re.IGNORECASE)


def _lent_subject(steps: list[str]) -> str:
    """The subject a step without one takes: the first named one, else "he"/"she" as written
    ("they" would need the plural verb the steps are not written in: "someone" stands in)."""
    subjects = [sub for sub in (_subject(s) for s in steps) if sub]
    named = [sub for sub in subjects if sub.lower() not in _PRONOUNS]
    if named:
        return named[0]
    if subjects:
        return "someone" if subjects[0].lower() == "they" else subjects[0]
    return ""


def _subordinate(clause: str) -> list[str]:
    """One clause, or two in time order when it carries an after/before gerund clause."""
    lead = _LEADING.match(clause)
    if lead:
        word, gerund, main = lead.groups()
        first, second = (gerund, main) if word.lower() in ("after", "once") else (main, gerund)
        return [first, second]
    trail = _TRAILING.match(clause)
    if trail:
        main, word, gerund = trail.groups()
        first, second = (gerund, main) if word.lower() == "after" else (main, gerund)
        return [first, second]
    return [clause]


def _present(clause: str) -> str:
    """"jogging around in a loop" -> "jogs around in a loop"; other clauses unchanged."""
    word, _, rest = clause.strip().partition(" ")
    if not word.lower().endswith("ing") or len(word) <= 4 or word.lower() in _ING_NOUNS:
        return clause.strip()
    verb = _IRREGULAR_ING.get(word.lower()) or third_person(_stem(word.lower()))
    return f"{verb} {rest}".strip()


def _as_clause(step: str) -> str:
    """An action named as a noun, as a clause without its subject: "a wave with the left hand" ->
    "waves with the left hand", "a slow walk forward" -> "walks forward slowly"; an adjective that is
    no adverb of the verb stays with the noun ("a big jump" -> "does a big jump", as the corpus says
    it). Anything else comes back as it is."""
    match = _NOUN_STEP.match(step.strip())
    if not match:
        return step
    adjectives, noun, rest = match.group(1).split(), match.group(2).lower(), match.group(3).strip()
    if adjectives and not all(a.lower() in _ADVERBS for a in adjectives):
        return f"does {step.strip()}"
    adverbs = [_ADVERBS[a.lower()] for a in adjectives]
    return " ".join(word for word in (_ACTION_NOUNS[noun], rest, *adverbs) if word)


def _stem(gerund: str) -> str:
    stem = gerund[:-3]
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiou" and stem[-1] not in _KEEP_DOUBLE:
        return stem[:-1]  # jogging, hopping, clapping, squatting
    if stem + "e" in _SILENT_E:
        return stem + "e"
    if re.search(r"([^aeiouwrl]l|[aeiou][vc]|dg|rg)$", stem):
        return stem + "e"  # shuffling, waving, dancing, trudging, charging
    return stem


def third_person(verb: str) -> str:
    """The present tense after "he"/"she": walk -> walks, crouch -> crouches, carry -> carries."""
    if re.search(r"(s|x|z|ch|sh|o)$", verb) and not verb.endswith("oo"):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def _subject(clause: str) -> str:
    """The clause's subject as written ("the old man", "someone"), or "" when it starts with a verb."""
    words = clause.split()
    if not words:
        return ""
    first = words[0].lower()
    if first in _SUBJECT_WORDS:
        return words[0]
    if first in _DETERMINERS:
        # The subject runs up to the verb: the first later word ending in s (walks, strolls), not a
        # double s (a boss), after at least one noun.
        for i in range(2, min(len(words), 6)):
            w = words[i].lower().strip(",")
            if (w.endswith("s") and not w.endswith("ss")) or w in ("first", "firstly"):
                return " ".join(words[:i])
        return ""
    return ""


def _with_subject(clause: str, subject: str) -> str:
    """clause with a subject of its own: "waves" -> "a person waves", "they walk" -> "a person walks"."""
    own = _subject(clause)
    if own and own.lower() not in _PRONOUNS:
        return clause
    if not subject:
        return clause
    if own:  # a pronoun stands for the prompt's subject
        verb, _, rest = clause.split(None, 1)[1].partition(" ") if " " in clause else ("", "", "")
        if own.lower() == "they" and verb and not verb.lower().endswith("s"):
            verb = third_person(verb)
        return f"{subject} {verb} {rest}".strip()
    return f"{subject} {clause}"


def plan_steps(prompt: str, seconds: float, fps: float, min_seconds: float) -> list[tuple[str, int]]:
    """The (prompt, frames) steps a motion of this length is made from, in order: the prompt alone, or
    one per action when it names actions in order. A step that names its length ("waves for 2
    seconds") gets it; the others share the rest equally, the last taking the rounding. With no
    lengths named, shares under min_seconds read the prompt whole; named lengths that cannot be met
    are a MomugError that says why."""
    prompt = prompt.strip()
    total = int(round(seconds * fps))
    parts = split_steps(prompt)
    if len(parts) < 2:
        return [(prompt, total)]
    timed = [step_duration(part) for part in parts]
    named = [s for _, s in timed if s is not None]
    if not named:
        if seconds / len(parts) < min_seconds:
            return [(prompt, total)]
        return list(zip(parts, _shares(total, len(parts))))
    if min(named) < min_seconds:
        raise MomugError(f"a step of '{prompt}' asks for {min(named):g} s; each step needs at least "
                         f"{min_seconds:g} s")
    frames = [None if s is None else int(round(s * fps)) for _, s in timed]
    free = [i for i, f in enumerate(frames) if f is None]
    left = total - sum(f for f in frames if f is not None)
    if not free and abs(sum(named) - seconds) > 0.5 / fps:
        raise MomugError(f"the steps of '{prompt}' add up to {sum(named):g} s but the motion is "
                         f"{total / fps:g} s long: make it {sum(named):g} s, or leave one step's length out")
    if free and left < len(free) * round(min_seconds * fps):
        raise MomugError(f"the steps of '{prompt}' that name their length take {sum(named):g} s of "
                         f"{total / fps:g} s, leaving too little for the others ({min_seconds:g} s each at "
                         "least): make the motion longer")
    if free:
        for i, share in zip(free, _shares(left, len(free))):
            frames[i] = share
    else:
        frames[-1] += left   # lengths in seconds that round to a frame more or less than the whole
    return [(step, n) for (step, _), n in zip(timed, frames)]


def _shares(frames: int, parts: int) -> list[int]:
    """frames split into equal parts, the last taking the rounding."""
    share = frames // parts
    return [share] * (parts - 1) + [frames - share * (parts - 1)]
