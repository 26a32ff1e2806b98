"""Run by ANOTHER Python (the one that runs the backend), never imported by the add-on.

    PYTHON smplx_body.py MODEL_FILE OUT.npz [--betas '[b0, b1, ...]']

Loads an SMPL / SMPL+H / SMPL-X model file with the `smplx` package (which needs torch, so it
cannot run inside Blender), shapes it with the betas and writes the rest-pose body as plain numpy
arrays that the add-on reads: vertices (V, 3), faces (F, 3), weights (V, K), joints (K, 3),
parents (K,), all Y up in metres, plus kind ('smpl', 'smplh' or 'smplx').

Exit codes: 0 written; 3 the smplx package (or torch) is not installed in this Python;
4 the file could not be loaded as a body model (the reason is on stderr's last line).
"""

import argparse
import json
import os
import sys

NO_SMPLX = 3
BAD_MODEL = 4
_JOINTS_TO_KIND = {24: "smpl", 52: "smplh", 55: "smplx"}


def _kind(path, np):
    """SMPL family member: from the release's file name, else from its number of joints."""
    base = os.path.basename(path).lower()
    for prefix in ("smplx", "smplh", "smpl"):
        if base.startswith(prefix):
            return prefix
    data = _raw(path, np)
    kintree = np.asarray(data["kintree_table"])
    kind = _JOINTS_TO_KIND.get(int(kintree.shape[1]))
    if kind is None:
        raise ValueError(f"{kintree.shape[1]} joints: not an SMPL, SMPL+H or SMPL-X model")
    return kind


def _raw(path, np):
    if path.endswith(".npz"):
        return dict(np.load(path, allow_pickle=True))
    import pickle
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--betas", default="[]")
    args = parser.parse_args(argv)
    try:
        import numpy as np
        import torch
        import smplx
        from smplx.lbs import blend_shapes, vertices2joints
        from smplx.utils import Struct
    except ImportError as exc:
        print(f"smplx is not available: {exc}", file=sys.stderr)
        return NO_SMPLX
    try:
        path = os.path.abspath(args.model)
        if not os.path.isfile(path):
            raise ValueError(f"no such file: {path}")
        kind = _kind(path, np)
        betas = [float(b) for b in json.loads(args.betas)]
        ext = "npz" if path.endswith(".npz") else "pkl"
        common = dict(num_betas=max(len(betas), 10))
        if kind == "smpl":
            # smplx's SMPL class reads pickles only; hand it an .npz's arrays itself.
            struct = Struct(**_raw(path, np)) if ext == "npz" else None
            model = smplx.SMPL(path, data_struct=struct, **common)
        elif kind == "smplh":
            model = smplx.SMPLH(path, ext=ext, use_pca=False, **common)
        else:
            model = smplx.SMPLX(path, ext=ext, use_pca=False, **common)
        with torch.no_grad():
            n = model.shapedirs.shape[-1]
            b = torch.zeros(1, n, dtype=model.v_template.dtype)
            if betas:
                b[0, :min(n, len(betas))] = torch.tensor(betas[:n], dtype=b.dtype)
            verts = model.v_template[None] + blend_shapes(b, model.shapedirs)
            joints = vertices2joints(model.J_regressor, verts)
        np.savez(args.out, vertices=verts[0].numpy().astype(np.float64),
                 faces=np.asarray(model.faces, dtype=np.int64),
                 weights=model.lbs_weights.numpy().astype(np.float64),
                 joints=joints[0].numpy().astype(np.float64),
                 parents=model.parents.numpy().astype(np.int64), kind=np.array(kind))
    except Exception as exc:  # the add-on shows the last line of stderr
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return BAD_MODEL
    print(json.dumps({"kind": kind, "vertices": int(verts.shape[1]), "joints": int(joints.shape[1])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
