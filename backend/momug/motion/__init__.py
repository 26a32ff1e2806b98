"""Motion core: the SMPL-22 skeleton, kinematics, HumanML3D features and motion files.

Conventions everywhere in the backend: metres, Y up, 20 fps unless a file says otherwise,
quaternions as (w, x, y, z), joint arrays shaped (T, J, 3).
"""
