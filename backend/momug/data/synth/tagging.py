"""Rule-based lemma/POS tags for caption lines in HumanML3D's text format.

A HumanML3D text line is `caption#lemma/POS lemma/POS ...#start#end`; its loaders use the tags
(e.g. to pick out VERB/NOUN tokens for the GloVe word vectors). Our captions come from a fixed
vocabulary, so a small lexicon plus suffix rules is enough.
"""

from __future__ import annotations

import re

_POS = {
    "DET": "a an the their his her both each every some several that this",
    "PRON": "someone something one person's themselves it they",
    "ADP": "to with in on at into onto over of for from toward towards around along like above up down out "
           "after as without through back",
    "CCONJ": "and or but then",
    "ADV": "forward forwards backward backwards ahead sideways straight slowly quickly fast briskly steadily leisurely "
           "slightly deeply low high again twice once away still here there very more little around upward "
           "first already together",
    "NUM": "two three four five six ninety hundred thirty",
    "ADJ": "left right slow normal fast full small big deep short opposite injured alternating several few "
           "overhand quiet counterclockwise clockwise single handed clockwise whole",
    "VERB": "walk jog run dash sneak tiptoe creep march limp hobble skip step move back take sidestep turn pivot face "
            "spin do jump hop land lift kick balance stand raise wave put hold clap bring point use stretch punch throw "
            "box make circle swing rotate squat bend rise crouch get duck kneel sit lower pretend bow give nod lean "
            "reach stay wait look glance veer keep perform favor curve wind",
    "NOUN": "person man woman human figure hand arm leg foot feet knee head shoulder fist chair position air sky pace "
            "line curve circle path time times degree degrees direction side ball waist moment spot jack jumping "
            "star soldier kick punch series squat bow stretch limp jog hello place thing nothing",
}
_LEXICON: dict[str, str] = {}
for _tag, _words in _POS.items():
    for _w in _words.split():
        _LEXICON.setdefault(_w, _tag)
_IRREGULAR = {"feet": "foot", "does": "do", "goes": "go", "is": "be", "are": "be", "has": "have", "times": "time",
              "knees": "knee", "fists": "fist", "arms": "arm", "hands": "hand", "legs": "leg", "steps": "step"}


def lemma_and_tag(word: str) -> tuple[str, str]:
    if word in _IRREGULAR:
        lemma = _IRREGULAR[word]
        return lemma, _LEXICON.get(lemma, "NOUN")
    if word in ("left", "right"):
        return word, "ADJ"
    # Third-person verbs and plural nouns: try the stems against the lexicon first.
    for stem in _stems(word):
        if stem in _LEXICON and _LEXICON[stem] in ("VERB", "NOUN"):
            return stem, _LEXICON[stem]
    if word in _LEXICON:
        return word, _LEXICON[word]
    if word.isdigit():
        return word, "NUM"
    if word.endswith("ly"):
        return word, "ADV"
    if word.endswith("ing") or word.endswith("ed"):
        return word, "VERB"
    return word, "NOUN"


def _stems(word: str) -> list[str]:
    out = []
    if word.endswith("ies"):
        out.append(word[:-3] + "y")
    if word.endswith("es"):
        out.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss"):
        out.append(word[:-1])
    return out


def tokens(caption: str) -> str:
    words = re.findall(r"[a-z0-9']+", caption.lower())
    return " ".join("/".join(lemma_and_tag(w)) for w in words)


def text_line(caption: str, start: float = 0.0, end: float = 0.0) -> str:
    """One line of a HumanML3D texts/<id>.txt file (start = end = 0 means the whole motion)."""
    return f"{caption}#{tokens(caption)}#{start:.1f}#{end:.1f}"
