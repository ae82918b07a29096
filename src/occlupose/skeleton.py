"""The Human3.6M 17-joint skeleton and mappings into it from other keypoint layouts.

Every array of joints in occlupose is in this order: ``(..., 17, D)``.
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "hip", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "thorax",
    "neck_nose", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
)
NUM_JOINTS = 17
PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15])
JOINTS_LEFT = np.array([4, 5, 6, 11, 12, 13])
JOINTS_RIGHT = np.array([1, 2, 3, 14, 15, 16])
ROOT = 0
J = {name: i for i, name in enumerate(JOINT_NAMES)}

#: (16, 2) bones as (parent, child).
BONES = np.stack([PARENTS[1:], np.arange(1, NUM_JOINTS)], axis=1)


def _flip_permutation() -> np.ndarray:
    perm = np.arange(NUM_JOINTS)
    perm[JOINTS_LEFT] = JOINTS_RIGHT
    perm[JOINTS_RIGHT] = JOINTS_LEFT
    return perm


#: Joint permutation that swaps left and right (for flips and mirrored detector mistakes).
FLIP_PERMUTATION = _flip_permutation()


def _symmetric_bone_pairs() -> np.ndarray:
    """(6, 2) indices into BONES: a left bone and its right twin (for the symmetry loss)."""
    child_to_bone = {int(c): b for b, c in enumerate(BONES[:, 1])}
    pairs = [(child_to_bone[int(lj)], child_to_bone[int(rj)]) for lj, rj in zip(JOINTS_LEFT, JOINTS_RIGHT)]
    return np.array(pairs)


SYMMETRIC_BONES = _symmetric_bone_pairs()


def _twin_mean() -> np.ndarray:
    """(16, 16): per-bone values (a row vector) times it = each left bone and its right twin given their mean,
    the other bones unchanged."""
    m = np.eye(len(BONES))
    left, right = SYMMETRIC_BONES[:, 0], SYMMETRIC_BONES[:, 1]
    for a, b in ((left, left), (left, right), (right, left), (right, right)):
        m[a, b] = 0.5
    return m


TWIN_MEAN = _twin_mean()


def bone_lengths(poses: np.ndarray) -> np.ndarray:
    """(..., 17, 3) -> (..., 16) bone lengths in the pose's units."""
    return np.linalg.norm(poses[..., BONES[:, 1], :] - poses[..., BONES[:, 0], :], axis=-1)


def _ancestry() -> np.ndarray:
    """(17, 16): 1 where bone b (a row of BONES) lies on the chain from the root to joint j."""
    a = np.zeros((NUM_JOINTS, len(BONES)))
    for j in range(1, NUM_JOINTS):  # built once at import; the 17-joint tree is walked, never the poses
        k = j
        while k != ROOT:
            a[j, k - 1] = 1.0  # bone k-1 ends at joint k (BONES[:, 1] is 1..16)
            k = PARENTS[k]
    return a


ANCESTRY = _ancestry()


def scale_bones(poses: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Poses (..., 17, 3) rebuilt with each bone (row of BONES) ``scales`` (..., 16) times as long, the root
    where it was and every bone's direction kept: another body doing the same motion."""
    bones = poses[..., BONES[:, 1], :] - poses[..., BONES[:, 0], :]
    return poses[..., ROOT:ROOT + 1, :] + np.einsum("jb,...bd->...jd", ANCESTRY, bones * scales[..., None])


#: joints whose placement is a convention more than anatomy, and differs between skeletons and 2D models: the
#: thorax (base of the neck or the shoulder line), neck/nose and head (skull base or top, forehead). Measured
#: in docs/results.md, "Where the thorax, neck and head are" (``benchmarks/joint_definitions.py``).
CONVENTION_JOINTS = np.array([J["thorax"], J["neck_nose"], J["head"]])


def body_axes(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(..., 17, 3) poses -> the body's up and forward unit vectors (..., 3) and trunk length (...,).

    Up points from the pelvis to the shoulders' midpoint (the trunk length is that distance); forward is
    perpendicular to up and to the left-right direction of the shoulders and hips (its sign is the same for
    every pose of one convention, which is all a symmetric draw needs). Defined by the shoulders, not the
    thorax, so that moving the thorax does not move the axes.
    """
    mid_sh = 0.5 * (poses[..., J["l_shoulder"], :] + poses[..., J["r_shoulder"], :])
    up = mid_sh - poses[..., ROOT, :]
    length = np.linalg.norm(up, axis=-1)
    up = up / np.maximum(length, 1e-9)[..., None]
    side = (poses[..., J["l_shoulder"], :] - poses[..., J["r_shoulder"], :]
            + poses[..., J["l_hip"], :] - poses[..., J["r_hip"], :])
    side = side - (side * up).sum(-1, keepdims=True) * up
    forward = np.cross(up, side)
    return up, forward / np.maximum(np.linalg.norm(forward, axis=-1), 1e-9)[..., None], length


def move_convention_joints(poses: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Poses (..., 17, 3) with the thorax, neck/nose and head (``CONVENTION_JOINTS``) each moved by ``shifts``
    (..., 3, 2) trunk lengths along the body's (up, forward): the same motion under another skeleton's
    convention for those joints. The spine, halfway between pelvis and thorax in every file here, moves with
    half the thorax's shift; no other joint moves."""
    up, forward, length = body_axes(poses)
    along = shifts[..., :, :1] * up[..., None, :] + shifts[..., :, 1:] * forward[..., None, :]  # (..., 3, 3)
    move = along * length[..., None, None]
    out = poses.copy()
    out[..., CONVENTION_JOINTS, :] += move
    out[..., J["spine"], :] += 0.5 * move[..., 0, :]
    return out


# --- Mappings from other layouts ---------------------------------------------------------------------

COCO17_NAMES: tuple[str, ...] = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)

MEDIAPIPE33_NAMES: tuple[str, ...] = (
    "nose", "l_eye_inner", "l_eye", "l_eye_outer", "r_eye_inner", "r_eye", "r_eye_outer", "l_ear", "r_ear",
    "mouth_left", "mouth_right", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
    "l_pinky", "r_pinky", "l_index", "r_index", "l_thumb", "r_thumb", "l_hip", "r_hip", "l_knee", "r_knee",
    "l_ankle", "r_ankle", "l_heel", "r_heel", "l_foot_index", "r_foot_index",
)


def _mapping_matrix(source_names: tuple[str, ...]) -> np.ndarray:
    """(17, S) weights: each H36M joint is a weighted sum of source keypoints.

    Derived joints: pelvis = mid-hips, thorax = mid-shoulders, spine = mid(pelvis, thorax),
    neck_nose (the skull base in our mocap) = mid-ears, head (forehead/top level) = mid-eyes pushed a
    quarter of the eyes-thorax distance further up. Weights of a row sum to 1.
    """
    s = {name: i for i, name in enumerate(source_names)}
    w = np.zeros((NUM_JOINTS, len(source_names)))

    def put(joint: str, parts: dict[str, float]) -> None:
        for name, weight in parts.items():
            w[J[joint], s[name]] += weight

    for side in ("l", "r"):
        put(f"{side}_hip", {f"{side}_hip": 1.0})
        put(f"{side}_knee", {f"{side}_knee": 1.0})
        put(f"{side}_ankle", {f"{side}_ankle": 1.0})
        put(f"{side}_shoulder", {f"{side}_shoulder": 1.0})
        put(f"{side}_elbow", {f"{side}_elbow": 1.0})
        put(f"{side}_wrist", {f"{side}_wrist": 1.0})
    put("hip", {"l_hip": 0.5, "r_hip": 0.5})
    put("thorax", {"l_shoulder": 0.5, "r_shoulder": 0.5})
    put("spine", {"l_hip": 0.25, "r_hip": 0.25, "l_shoulder": 0.25, "r_shoulder": 0.25})
    put("neck_nose", {"l_ear": 0.5, "r_ear": 0.5})
    # head = eyes + 0.25 * (eyes - thorax)
    put("head", {"l_eye": 0.625, "r_eye": 0.625, "l_shoulder": -0.125, "r_shoulder": -0.125})
    return w


MPII16_NAMES: tuple[str, ...] = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "upper_neck", "head_top",
    "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)


def _mpii_matrix() -> np.ndarray:
    """MPII has the pelvis, thorax, upper neck and head top itself: spine = mid(pelvis, thorax)."""
    s = {name: i for i, name in enumerate(MPII16_NAMES)}
    w = np.zeros((NUM_JOINTS, len(MPII16_NAMES)))
    for side in ("l", "r"):
        for part in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            w[J[f"{side}_{part}"], s[f"{side}_{part}"]] = 1.0
    w[J["hip"], s["pelvis"]] = 1.0
    w[J["thorax"], s["thorax"]] = 1.0
    w[J["spine"], [s["pelvis"], s["thorax"]]] = 0.5
    w[J["neck_nose"], s["upper_neck"]] = 1.0
    w[J["head"], s["head_top"]] = 1.0
    return w


LAYOUTS: dict[str, tuple[str, ...]] = {
    "coco17": COCO17_NAMES,
    "mediapipe33": MEDIAPIPE33_NAMES,
    "mpii16": MPII16_NAMES,
}
_MATRICES = {name: _mapping_matrix(names) for name, names in LAYOUTS.items() if name != "mpii16"}
_MATRICES["mpii16"] = _mpii_matrix()


def to_h36m(keypoints: np.ndarray, scores: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Map ``(..., S, D)`` keypoints and ``(..., S)`` scores of ``layout`` to H36M-17.

    A derived joint's confidence is the minimum of its sources' confidences, so a joint built from an
    occluded keypoint is itself unreliable. ``layout`` is one of ``LAYOUTS`` or ``"h36m"`` (identity).
    """
    if layout == "h36m":
        return keypoints, scores
    if layout not in _MATRICES:
        raise ValueError(f"unknown keypoint layout {layout!r}; expected one of {['h36m', *LAYOUTS]}")
    w = _MATRICES[layout]
    if keypoints.shape[-2] != w.shape[1] or scores.shape[-1] != w.shape[1]:
        raise ValueError(
            f"layout {layout!r} has {w.shape[1]} keypoints, got keypoints {keypoints.shape} scores {scores.shape}"
        )
    out = np.einsum("js,...sd->...jd", w, keypoints)
    used = w != 0  # (17, S)
    big = np.where(used, scores[..., None, :], np.inf)  # (..., 17, S)
    return out, big.min(axis=-1)
