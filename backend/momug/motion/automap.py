"""Automatic bone mapping: any humanoid skeleton onto the SMPL-22 joints, by names and hierarchy.

This one file serves the backend (momug.motion.bonemap) and the Blender add-on (which loads it by
path or gets a copy in the built extension), so it imports nothing but the standard library and
numpy, and nothing from momug.

    result = automap(names, parents, positions=None, up=None)
    result.bones   {smpl22_joint: bone_name}, in SMPL-22 order
    result.filled  SMPL-22 joints no bone stands for (placed later from their neighbours)
    result.notes   what was mapped and why, for the user
Raises AutoMapError("no left leg chain: ...") naming the chain it could not find.

How: helper bones (twist/roll/share/end/IK...), fingers and face bones are set aside; the rest
form a tree (twist bones that are all there is between the chest and the head are the neck:
Character Creator's CC_Base_NeckTwist01/02). The five limb ends are found by name (toes or feet, hands, head; left/right from
`Left*`, `*_L`, `*.L`, `L_*`, `LHipJoint`-style names), or, when names are silent, from the
hierarchy: two pairs of matching chains (legs below the spine, arms where the head also hangs)
and the head chain beside the arms. The pelvis is the bone that parents both legs and the spine;
spine3 is the bone the two arms hang from. Joints are read back from each limb's end (ankle,
knee, hip; wrist, elbow, shoulder, collar), so extra bones near the body (CMU's LHipJoint) are
passed over. Positions (any units and axes; the rest pose or any standing pose) are only needed
to tell left from right when names do not, from the body's facing (toes point forward).
"""

import re

import numpy as np

# Same order and names as rigs/smpl22.json.
SMPL22_JOINTS = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)

_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_LEFT = {"l", "left", "lft"}
_RIGHT = {"r", "right", "rt", "rgt"}
# Bones that are not joints of the body: skipped, their children hang from their parent.
_AUX = {"twist", "roll", "share", "end", "nub", "ik", "pole", "target", "tgt", "ctrl", "control",
        "helper", "corrective", "null", "dummy", "site", "socket", "mch", "org", "tweak", "prop",
        "weapon", "attach", "ikfk"}
_FINGER = {"thumb", "index", "middle", "ring", "pinky", "pinkie", "little", "finger", "fingers",
           "digit", "metacarpal", "palm"}
_FACE = {"eye", "eyes", "jaw", "tongue", "teeth", "tooth", "lip", "lips", "brow", "eyebrow", "ear",
         "nose", "cheek", "lid", "eyelid", "mouth", "chin", "hair", "breast"}
_TOE = {"toe", "toes", "toebase", "ball"}
_FOOT = {"foot", "ankle"}
_HAND = {"hand", "wrist"}


class AutoMapError(ValueError):
    """The skeleton cannot be mapped; the message names the chain that was not found."""


class AutoMap:
    def __init__(self, bones, filled, notes, skipped):
        self.bones = bones  # {smpl joint: bone name}
        self.filled = filled  # SMPL-22 joints left for filling
        self.notes = notes  # human-readable lines
        self.skipped = skipped  # bone names set aside (helpers, fingers, face)

    def summary(self):
        text = f"auto: {len(self.bones)} of 22 joints from bones"
        return text + (f", filled {', '.join(self.filled)}" if self.filled else "")

    def __repr__(self):
        return f"AutoMap({self.bones!r}, filled={self.filled!r})"


def name_words(name):
    """Lower-case words of a bone name, namespace ('mixamorig:', 'Armature|') removed:
    'LeftUpLeg' -> left up leg, 'LHipJoint' -> l hip joint, 'DEF-thigh.L' -> def thigh l."""
    base = re.split(r"[:|]", str(name))[-1]
    return [w.lower() for w in _CAMEL.findall(base)]


def name_side(words):
    """'L', 'R' or None from a bone name's words."""
    left = any(w in _LEFT for w in words)
    right = any(w in _RIGHT for w in words)
    return "L" if left and not right else "R" if right and not left else None


def _kind(words):
    w = set(words)
    if w & _AUX or ("head" in w and "top" in w):
        return "aux"
    if w & _FINGER:
        return "finger"
    if w & _FACE:
        return "face"
    return "body"


def _parse_up(up):
    if up is None:
        return None
    if isinstance(up, str):
        axis = up.strip().upper()
        sign = -1.0 if axis.startswith("-") else 1.0
        axis = axis.lstrip("+-")
        if axis not in ("X", "Y", "Z"):
            raise AutoMapError(f"up must be 'X', 'Y', 'Z' (optionally signed) or a vector, got {up!r}")
        v = np.zeros(3)
        v["XYZ".index(axis)] = sign
        return v
    v = np.asarray(up, dtype=np.float64).reshape(3)
    n = np.linalg.norm(v)
    if not np.isfinite(n) or n == 0:
        raise AutoMapError(f"up must be a non-zero vector, got {up!r}")
    return v / n


class _Tree:
    """The skeleton with helper, finger and face bones set aside."""

    def __init__(self, names, parents, positions):
        self.names = [str(n) for n in names]
        n = len(self.names)
        if n == 0:
            raise AutoMapError("the skeleton has no bones")
        index = {name: i for i, name in enumerate(self.names)}
        par = []
        for i, p in enumerate(parents):
            if p is None or (isinstance(p, (int, np.integer)) and p < 0):
                par.append(-1)
            elif isinstance(p, (int, np.integer)):
                if p >= n:
                    raise AutoMapError(f"bone {self.names[i]!r} has parent index {p}, past the {n} bones")
                par.append(int(p))
            elif str(p) in index:
                par.append(index[str(p)])
            elif str(p) == "":
                par.append(-1)
            else:
                raise AutoMapError(f"bone {self.names[i]!r} has parent {p!r}, which is not a bone")
        if len(par) != n:
            raise AutoMapError(f"{n} bone names but {len(par)} parents")
        self.parents = par
        for i in range(n):  # a cycle would loop forever below
            seen, j = set(), i
            while j >= 0:
                if j in seen:
                    raise AutoMapError(f"the bone hierarchy has a cycle through {self.names[j]!r}")
                seen.add(j)
                j = par[j]
        self.pos = None
        if positions is not None:
            pos = np.asarray(positions, dtype=np.float64)
            if pos.shape != (n, 3):
                raise AutoMapError(f"positions must be one 3D point per bone ({n}, 3), got {pos.shape}")
            self.pos = pos if np.all(np.isfinite(pos)) else None
        self.words = [name_words(b) for b in self.names]
        self.side = [name_side(w) for w in self.words]
        self.kind = [_kind(w) for w in self.words]
        self.body = [i for i in range(n) if self.kind[i] == "body"]
        self.depth = [self._depth(i) for i in range(n)]
        # Parent among body bones only.
        self.eparent = []
        for i in range(n):
            p = par[i]
            while p >= 0 and self.kind[p] != "body":
                p = par[p]
            self.eparent.append(p)
        self.children = {i: [] for i in range(n)}
        for i in self.body:
            if self.eparent[i] >= 0:
                self.children[self.eparent[i]].append(i)

    def _depth(self, i):
        d = 0
        while self.parents[i] >= 0:
            i, d = self.parents[i], d + 1
        return d

    def ancestors(self, i):
        """i, its body parent, ... up to the root."""
        out = []
        while i >= 0:
            out.append(i)
            i = self.eparent[i]
        return out

    def lca(self, bones):
        common = None
        for b in bones:
            chain = self.ancestors(b)
            common = chain if common is None else [a for a in chain if a in set(common)]
        return common[0] if common else -1

    def path(self, top, bottom):
        """Body bones from below top down to bottom (top excluded), or None if not below it."""
        chain = self.ancestors(bottom)
        if top not in chain or top == bottom:
            return None
        return list(reversed(chain[:chain.index(top)]))

    def has(self, i, words):
        return bool(set(self.words[i]) & words)

    def shallowest(self, bones):
        return min(bones, key=lambda i: (self.depth[i], i)) if bones else None

    def main_chain(self, b):
        """b and its single children down to a leaf or a branch point (a hand with fingers)."""
        chain = [b]
        while len(self.children[chain[-1]]) == 1:
            chain.append(self.children[chain[-1]][0])
        return chain

    def chain_length(self, chain):
        if self.pos is None:
            return float(len(chain))
        pts = self.pos[chain]
        return float(np.linalg.norm(np.diff(pts, axis=0), axis=-1).sum()) + 1e-9 * len(chain)


_SIDE_WORD = {"L": "left", "R": "right"}


def _tips_by_name(t):
    """{'leg_L', 'leg_R', 'arm_L', 'arm_R', 'head'}: bone index or None, from names alone."""
    tips = {}
    for side in ("L", "R"):
        toes = [i for i in t.body if t.side[i] == side and t.has(i, _TOE)]
        feet = [i for i in t.body if t.side[i] == side and t.has(i, _FOOT) and not t.has(i, _TOE)]
        tips[f"leg_{side}"] = t.shallowest(toes) if toes else t.shallowest(feet)
        tips[f"arm_{side}"] = t.shallowest([i for i in t.body if t.side[i] == side and t.has(i, _HAND)])
    heads = [i for i in t.body if t.side[i] is None and "head" in t.words[i]]
    if tips["arm_L"] is not None and tips["arm_R"] is not None:
        # A head above the arms beats a look-at or camera helper elsewhere in the rig.
        chest = t.lca([tips["arm_L"], tips["arm_R"]])
        heads = [i for i in heads if t.path(chest, i) is not None] or heads
    tips["head"] = t.shallowest(heads)
    return tips


_CHAIN_LABEL = {
    "leg_L": ("left leg", "bone chain from the hips that ends near the ground on the left"),
    "leg_R": ("right leg", "bone chain from the hips that ends near the ground on the right"),
    "arm_L": ("left arm", "bone chain from the chest that ends at a hand on the left"),
    "arm_R": ("right arm", "bone chain from the chest that ends at a hand on the right"),
    "head": ("head", "bone chain above the arms that ends at the head"),
}


def _missing_message(key):
    label, what = _CHAIN_LABEL[key]
    return f"no {label} chain: found no {what}"


def _structure(tips, t):
    """Pelvis and chest from the five tips; raises AutoMapError naming a broken chain."""
    pelvis = t.lca([tips["leg_L"], tips["leg_R"], tips["head"]])
    chest = t.lca([tips["arm_L"], tips["arm_R"]])
    if pelvis < 0:
        raise AutoMapError("no pelvis: the legs and the head share no parent bone")
    if chest < 0 or t.path(pelvis, chest) is None:
        raise AutoMapError("no spine chain: found no bone chain from the hips up to the bone "
                           "both arms hang from")
    if t.path(chest, tips["head"]) is None:
        raise AutoMapError("no head chain: the head does not hang from the bone both arms hang from "
                           f"({t.names[chest]})")
    for side in ("L", "R"):
        leg = t.path(pelvis, tips[f"leg_{side}"])
        if leg is None or chest in leg:
            raise AutoMapError(f"no {_SIDE_WORD[side]} leg chain: "
                               f"{t.names[tips[f'leg_{side}']]} does not hang from the hips apart from the spine")
    return pelvis, chest


def _pairs(t):
    """Sibling chains of equal bone count (3 or more): candidate leg and arm pairs."""
    pairs = []
    for x in t.body:
        chains = [t.main_chain(k) for k in t.children[x]]
        for a in range(len(chains)):
            for b in range(a + 1, len(chains)):
                ca, cb = chains[a], chains[b]
                if len(ca) == len(cb) >= 3:
                    pairs.append((x, ca, cb))
    # Drop pairs inside another pair's limbs (fingers under a hand, toes under a foot).
    def inside(p, q):
        anc = set(t.ancestors(p[0]))
        return any(b in anc for b in q[1] + q[2])
    top = [p for p in pairs if not any(inside(p, q) for q in pairs if q is not p)]
    top.sort(key=lambda p: -(t.chain_length(p[1]) + t.chain_length(p[2])))
    return top


def _tips_by_structure(t, named):
    """The five tips from the hierarchy alone (names silent); sides from names or positions."""
    pairs = _pairs(t)
    if len(pairs) < 2:
        if pairs and len(t.children[pairs[0][0]]) > 2:
            missing = "leg_L"  # the one pair found has a third branch (a head): arms
        elif pairs:
            missing = "arm_L"
        else:
            missing = "leg_L"
        label, what = _CHAIN_LABEL[missing]
        raise AutoMapError(f"no {label} chain: found no {what} (looked for two pairs of matching "
                           f"limb chains, found {len(pairs)})")
    p, q = pairs[0], pairs[1]
    anc_p, anc_q = set(t.ancestors(p[0])), set(t.ancestors(q[0]))
    if p[0] in anc_q and p[0] != q[0]:
        legs, arms = p, q  # the legs' branch point lies below (is an ancestor of) the arms'
    elif q[0] in anc_p and p[0] != q[0]:
        legs, arms = q, p
    elif len(t.children[p[0]]) > 2 >= len(t.children[q[0]]):
        legs, arms = q, p  # the arms' branch point also carries the head
    elif len(t.children[q[0]]) > 2 >= len(t.children[p[0]]):
        legs, arms = p, q
    else:
        raise AutoMapError("no leg chains: found two pairs of limb chains but cannot tell the legs "
                           "from the arms")
    chest = arms[0]
    others = [t.main_chain(k) for k in t.children[chest] if k not in (arms[1][0], arms[2][0])]
    if not others:
        raise AutoMapError(_missing_message("head"))
    head_chain = max(others, key=t.chain_length)
    tips = {"head": named.get("head") if named.get("head") is not None else head_chain[-1]}
    notes = []
    for limb, pair in (("leg", legs), ("arm", arms)):
        a, b = pair[1], pair[2]
        sa = {t.side[i] for i in a} - {None}
        sb = {t.side[i] for i in b} - {None}
        if sa in ({"L"}, {"R"}) and sb in ({"L"}, {"R"}) and sa != sb:
            left, right = (a, b) if sa == {"L"} else (b, a)
        else:
            left, right, note = _sides_by_position(t, pair, legs, tips["head"])
            notes.append(f"{limb}s: {note}")
        tips[f"{limb}_L"], tips[f"{limb}_R"] = left[-1], right[-1]
    return tips, notes


def _body_frame(t, legs, head):
    """(up, left) unit vectors from positions: up from the feet to the head, forward from the toes."""
    up = t.up
    feet = [legs[1][-1], legs[2][-1]]
    if up is None:
        up = t.pos[head] - t.pos[feet].mean(axis=0)
        up /= max(np.linalg.norm(up), 1e-12)
    forward = np.zeros(3)
    for chain in (legs[1], legs[2]):
        if len(chain) >= 4:  # the last bone of a leg with toes points forward
            d = t.pos[chain[-1]] - t.pos[chain[-2]]
            d = d - np.dot(d, up) * up
            n = np.linalg.norm(d)
            bone = np.linalg.norm(t.pos[chain[-1]] - t.pos[chain[-2]])
            if n > 0.5 * bone > 0:  # roughly level: a toe, not a shin
                forward += d / n
    if np.linalg.norm(forward) > 1e-6:
        forward /= np.linalg.norm(forward)
        return up, np.cross(up, forward), "from rest positions (body facing along its toes)"
    # No toes to face by: Y-up and Blender Z-up characters both have their left at +X.
    x = np.array([1.0, 0.0, 0.0]) - up[0] * up
    return up, x / max(np.linalg.norm(x), 1e-12), "guessed from the axes (+X is the body's left)"


def _sides_by_position(t, pair, legs, head):
    if t.pos is None:
        raise AutoMapError("no left/right: the bone names do not say which limb is left and no "
                           "positions were given to tell")
    up, left, how = _body_frame(t, legs, head)
    base = t.pos[pair[0]]
    a, b = pair[1], pair[2]
    da = float(np.dot(t.pos[a].mean(axis=0) - base, left))
    db = float(np.dot(t.pos[b].mean(axis=0) - base, left))
    if abs(da - db) < 1e-9:
        raise AutoMapError("no left/right: the two limbs of a pair lie on top of each other")
    return (a, b, how) if da > db else (b, a, how)


def _twist_neck(t, chest, head):
    """The neck among 'twist' helpers between the chest and the head, or None. Character
    Creator names its neck bones CC_Base_NeckTwist01/02: set aside as twist bones, they would
    leave the neck to be filled although they are the neck. Taken only when nothing but twist
    bones lies on that stretch and it is one bone, or all of them are named neck; the top one."""
    between = []
    b = t.parents[head]
    while b >= 0 and b != chest:
        between.append(b)
        b = t.parents[b]
    if b != chest or not between:
        return None
    if not all("twist" in t.words[i] for i in between):
        return None
    if len(between) == 1 or all("neck" in t.words[i] for i in between):
        return between[-1]
    return None


def _assign_leg(t, chain, side, pelvis):
    name = _SIDE_WORD[side]
    ankle_i = None
    for k, b in enumerate(chain):
        if t.has(b, _FOOT) and not t.has(b, _TOE):
            ankle_i = k
    if ankle_i is None:
        tip = chain[-1]
        toe = t.has(tip, _TOE)
        if not toe and not t.has(tip, _FOOT) and len(chain) >= 4:
            toe = _level(t, chain[-2], tip) if t.pos is not None and t.up is not None else True
        ankle_i = len(chain) - 2 if toe else len(chain) - 1
    if ankle_i < 2:
        raise AutoMapError(f"no {name} leg chain: the chain from {t.names[pelvis]} to "
                           f"{t.names[chain[-1]]} has too few bones for a hip, knee and ankle")
    out = {f"{name}_hip": chain[ankle_i - 2], f"{name}_knee": chain[ankle_i - 1],
           f"{name}_ankle": chain[ankle_i]}
    if ankle_i + 1 < len(chain):
        out[f"{name}_foot"] = chain[ankle_i + 1]
    return out


def _level(t, a, b):
    d = t.pos[b] - t.pos[a]
    n = np.linalg.norm(d)
    return n > 0 and abs(np.dot(d, t.up)) < 0.7 * n


def _assign_arm(t, chain, side, chest):
    name = _SIDE_WORD[side]
    if len(chain) < 3:
        raise AutoMapError(f"no {name} arm chain: the chain from {t.names[chest]} to "
                           f"{t.names[chain[-1]]} has too few bones for a shoulder, elbow and wrist")
    out = {f"{name}_shoulder": chain[-3], f"{name}_elbow": chain[-2], f"{name}_wrist": chain[-1]}
    if len(chain) >= 4:
        out[f"{name}_collar"] = chain[-4]
    return out


def automap(names, parents, positions=None, up=None):
    """Map a humanoid skeleton onto SMPL-22. names: bone names; parents: parent index per bone
    (-1 or None for a root) or parent name (None or '' for a root); positions: optional (J, 3)
    rest (or standing) head positions, any units and axes; up: optional 'X'/'Y'/'Z'/'-Z'... or a
    vector (default: from the feet to the head). Returns an AutoMap; raises AutoMapError."""
    names = list(names)
    parents = list(parents)
    if len(parents) != len(names):
        raise AutoMapError(f"{len(names)} bone names but {len(parents)} parents")
    t = _Tree(names, parents, positions)
    t.up = _parse_up(up)
    named = _tips_by_name(t)
    notes = []
    error = None
    tips = None
    if all(v is not None for v in named.values()):
        try:
            _structure(named, t)
            tips = named
            notes.append("limb ends found by name; left/right from the bone names")
        except AutoMapError as exc:
            error = exc
    else:
        missing = next(k for k, v in named.items() if v is None)
        error = AutoMapError(_missing_message(missing))
    if tips is None:
        try:
            tips, side_notes = _tips_by_structure(t, named)
            _structure(tips, t)
        except AutoMapError as exc:
            # Names that found most of the body explain the failure better than the hierarchy.
            if sum(v is not None for v in named.values()) >= 3:
                raise error from None
            raise exc from None
        notes.append("limb ends found from the hierarchy (two pairs of matching chains)")
        notes.extend(side_notes)
    if t.pos is not None and t.up is None:
        legs_mid = t.pos[[tips["leg_L"], tips["leg_R"]]].mean(axis=0)
        v = t.pos[tips["head"]] - legs_mid
        if np.linalg.norm(v) > 0:
            t.up = v / np.linalg.norm(v)

    pelvis, chest = _structure(tips, t)
    found = {"pelvis": pelvis}
    for side in ("L", "R"):
        found.update(_assign_leg(t, t.path(pelvis, tips[f"leg_{side}"]), side, pelvis))
        found.update(_assign_arm(t, t.path(chest, tips[f"arm_{side}"]), side, chest))

    spine = t.path(pelvis, chest)[:-1]
    head_path = t.path(chest, tips["head"])
    head_i = next((k for k, b in enumerate(head_path) if "head" in t.words[b]), len(head_path) - 1)
    found["head"] = head_path[head_i]
    before = head_path[:head_i]
    if "neck" in t.words[chest] and spine:
        found["neck"], found["spine3"] = chest, spine.pop()  # clavicles hang from the neck (3ds Max Biped)
    else:
        found["spine3"] = chest
        necks = [b for b in before if "neck" in t.words[b]]
        if necks or before:
            found["neck"] = (necks or before)[0]
        else:
            twist_neck = _twist_neck(t, chest, tips["head"])
            if twist_neck is not None:
                found["neck"] = twist_neck
    if spine:
        found["spine1"] = spine[0]
        if len(spine) >= 2:
            found["spine2"] = spine[len(spine) // 2]

    bones = {j: t.names[found[j]] for j in SMPL22_JOINTS if j in found}
    if len(set(bones.values())) != len(bones):
        raise AutoMapError("no consistent map: one bone came out as two joints "
                           f"({', '.join(f'{j}={b}' for j, b in bones.items())})")
    filled = [j for j in SMPL22_JOINTS if j not in bones]
    taken = set(found.values())
    skipped = [t.names[i] for i in range(len(names)) if t.kind[i] != "body" and i not in taken]

    def chain_note(label, joints):
        return f"{label}: " + ", ".join(f"{j.split('_', 1)[-1] if '_' in j else j} {bones.get(j, '(filled)')}"
                                         for j in joints)

    notes.append(f"pelvis: {bones['pelvis']} (the bone above both legs and the spine)")
    notes.append(chain_note("spine", ("spine1", "spine2", "spine3", "neck", "head")))
    for side in ("left", "right"):
        notes.append(chain_note(f"{side} leg", tuple(f"{side}_{k}" for k in ("hip", "knee", "ankle", "foot"))))
        notes.append(chain_note(f"{side} arm", tuple(f"{side}_{k}" for k in ("collar", "shoulder", "elbow", "wrist"))))
    kinds = {}
    for i in range(len(names)):
        if t.kind[i] != "body" and i not in taken:
            kinds.setdefault(t.kind[i], []).append(t.names[i])
    labels = {"aux": "helper bones (twist/roll/end/IK)", "finger": "finger bones", "face": "face bones"}
    for kind, bs in kinds.items():
        notes.append(f"skipped {len(bs)} {labels[kind]}: {_short(bs)}")
    if filled:
        notes.append(f"filled from neighbouring joints: {', '.join(filled)}")
    return AutoMap(bones, filled, notes, skipped)


def _short(items, limit=8):
    items = list(items)
    return ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
