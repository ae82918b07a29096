"""Hand-built poses for the tests (world frame, Z up, metres, facing -y)."""

import numpy as np

from occlupose.skeleton import J


def t_pose() -> np.ndarray:
    """(17, 3) T-pose facing -y (towards a LEVEL_CAMERA), its left side at +x, pelvis at the origin."""
    p = np.zeros((17, 3))
    p[J["hip"]] = [0, 0, 0]
    p[J["l_hip"]], p[J["r_hip"]] = [0.1, 0, 0], [-0.1, 0, 0]
    p[J["l_knee"]], p[J["r_knee"]] = [0.1, 0, -0.45], [-0.1, 0, -0.45]
    p[J["l_ankle"]], p[J["r_ankle"]] = [0.1, 0, -0.9], [-0.1, 0, -0.9]
    p[J["thorax"]] = [0, 0, 0.5]
    p[J["spine"]] = [0, 0, 0.25]
    p[J["neck_nose"]] = [0, 0, 0.62]
    p[J["head"]] = [0, 0, 0.75]
    p[J["l_shoulder"]], p[J["r_shoulder"]] = [0.19, 0, 0.5], [-0.19, 0, 0.5]
    p[J["l_elbow"]], p[J["r_elbow"]] = [0.47, 0, 0.5], [-0.47, 0, 0.5]
    p[J["l_wrist"]], p[J["r_wrist"]] = [0.72, 0, 0.5], [-0.72, 0, 0.5]
    return p
