"""BVH export of H36M-17 joint sequences, for animation tools (Blender, MotionBuilder, ...).

Rotations are solved from joint positions: a joint with one child swings its parent's frame onto the observed
bone (no twist, which positions cannot tell); the pelvis and the thorax, which have three children each, get
the least-squares (Kabsch) rotation of their children's rest offsets. Bone lengths are the median over the
sequence. The file is Y-up (x right, y up, z towards the viewer), in centimetres, channels ZXY
(``R = Rz Ry Rx`` applied to a column vector as ``Rz @ Rx @ Ry``). :func:`read_bvh` reads it back.
"""

from __future__ import annotations

import os

import numpy as np
from scipy.spatial.transform import Rotation

from .metrics import rotation_fit
from .skeleton import NUM_JOINTS, PARENTS, J

BVH_NAMES = ("Hips", "RightUpLeg", "RightLeg", "RightFoot", "LeftUpLeg", "LeftLeg", "LeftFoot", "Spine", "Thorax",
             "Neck", "Head", "LeftArm", "LeftForeArm", "LeftHand", "RightArm", "RightForeArm", "RightHand")
#: camera frame (x right, y down, z forward) -> BVH (x right, y up, z towards the viewer)
CAM_TO_BVH = np.diag([1.0, -1.0, -1.0])
CM = 100.0

#: rest-pose bone directions (BVH frame, Y up): a T-pose facing +z
_REST_DIR = {
    J["r_hip"]: (-1, 0, 0), J["r_knee"]: (0, -1, 0), J["r_ankle"]: (0, -1, 0),
    J["l_hip"]: (1, 0, 0), J["l_knee"]: (0, -1, 0), J["l_ankle"]: (0, -1, 0),
    J["spine"]: (0, 1, 0), J["thorax"]: (0, 1, 0), J["neck_nose"]: (0, 1, 0), J["head"]: (0, 1, 0),
    J["l_shoulder"]: (1, 0, 0), J["l_elbow"]: (1, 0, 0), J["l_wrist"]: (1, 0, 0),
    J["r_shoulder"]: (-1, 0, 0), J["r_elbow"]: (-1, 0, 0), J["r_wrist"]: (-1, 0, 0),
}
CHILDREN = {j: [c for c in range(NUM_JOINTS) if PARENTS[c] == j] for j in range(NUM_JOINTS)}
END_SITE_CM = 5.0


def _rest_offsets(poses: np.ndarray) -> np.ndarray:
    """(17, 3) rest offsets (BVH frame, metres): median bone length along the T-pose direction; the children
    of the pelvis and the thorax keep the sequence's own mean shape (orientation removed), so that their
    Kabsch fit is exact for a rigid pelvis and chest."""
    off = np.zeros((NUM_JOINTS, 3))
    for c in range(1, NUM_JOINTS):
        length = np.median(np.linalg.norm(poses[:, c] - poses[:, PARENTS[c]], axis=-1))
        off[c] = np.array(_REST_DIR[c], float) * length
    for j, kids in CHILDREN.items():
        if len(kids) > 1:
            vec = poses[:, kids] - poses[:, j : j + 1]  # (T, K, 3)
            rot = _kabsch(off[kids], vec)
            off[kids] = np.einsum("tji,tkj->tki", rot, vec).mean(0)
    return off


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 3, 3) smallest rotations taking directions a (T, 3) onto b (T, 3)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    v = np.cross(a, b)
    s = np.linalg.norm(v, axis=-1)
    c = (a * b).sum(-1)
    axis = np.where(s[:, None] > 1e-9, v / np.maximum(s, 1e-12)[:, None], _perpendicular(a))
    angle = np.arctan2(s, c)
    return Rotation.from_rotvec(axis * angle[:, None]).as_matrix()


def _perpendicular(a: np.ndarray) -> np.ndarray:
    trial = np.where(np.abs(a[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))
    p = np.cross(a, trial)
    return p / np.linalg.norm(p, axis=-1, keepdims=True)


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations R minimising sum |R src_k - dst_k|^2; src (K, 3), dst (T, K, 3)."""
    r, _ = rotation_fit(np.broadcast_to(src, dst.shape), dst)  # src_k^T R^T = dst_k^T
    return np.swapaxes(r, -1, -2)


def solve_rotations(poses_bvh: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(T, 17, 3) BVH-frame positions -> (T, 17, 3, 3) local joint rotations (the BVH channels)."""
    t = len(poses_bvh)
    glob = np.tile(np.eye(3), (t, NUM_JOINTS, 1, 1))
    for j in range(NUM_JOINTS):  # parents come before children in the H36M order
        kids = CHILDREN[j]
        if not kids:
            glob[:, j] = glob[:, PARENTS[j]]
            continue
        parent = glob[:, PARENTS[j]] if PARENTS[j] >= 0 else np.tile(np.eye(3), (t, 1, 1))
        vec = poses_bvh[:, kids] - poses_bvh[:, j : j + 1]  # (T, K, 3)
        if len(kids) == 1:
            rest = np.einsum("tij,j->ti", parent, offsets[kids[0]])
            glob[:, j] = _align(rest, vec[:, 0]) @ parent
        else:
            glob[:, j] = _kabsch(offsets[kids], vec)
    local = glob.copy()
    for j in range(1, NUM_JOINTS):
        local[:, j] = np.swapaxes(glob[:, PARENTS[j]], -1, -2) @ glob[:, j]
    return local


def write_bvh(path: str | os.PathLike, poses_cam: np.ndarray, fps: float) -> None:
    """Write (T, 17, 3) camera-frame poses in metres (occlupose's output) as a BVH file."""
    poses_cam = np.asarray(poses_cam, dtype=np.float64)
    if poses_cam.ndim != 3 or poses_cam.shape[1:] != (NUM_JOINTS, 3) or len(poses_cam) == 0:
        raise ValueError(f"poses must be (T, 17, 3) with T >= 1, got {poses_cam.shape}")
    if not np.all(np.isfinite(poses_cam)):
        raise ValueError("poses contain NaN or infinite values")
    p = poses_cam @ CAM_TO_BVH.T
    offsets = _rest_offsets(p)
    local = solve_rotations(p, offsets)
    euler = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler("ZXY", degrees=True).reshape(len(p), NUM_JOINTS, 3)

    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        o = offsets[j] * CM
        head = "ROOT" if j == 0 else "JOINT"
        lines.append(f"{pad}{head} {BVH_NAMES[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {o[0]:.4f} {o[1]:.4f} {o[2]:.4f}")
        chans = "6 Xposition Yposition Zposition " if j == 0 else "3 "
        lines.append(f"{pad}  CHANNELS {chans}Zrotation Xrotation Yrotation")
        if CHILDREN[j]:
            for c in CHILDREN[j]:
                emit(c, depth + 1)
        else:
            e = np.array(_REST_DIR[j], float) * END_SITE_CM
            lines.append(f"{pad}  End Site")
            lines.append(f"{pad}  {{")
            lines.append(f"{pad}    OFFSET {e[0]:.4f} {e[1]:.4f} {e[2]:.4f}")
            lines.append(f"{pad}  }}")
        lines.append(f"{pad}}}")

    emit(0, 0)
    order = _dfs_order()
    lines += ["MOTION", f"Frames: {len(p)}", f"Frame Time: {1.0 / fps:.9f}"]
    root = p[:, 0] * CM
    for t in range(len(p)):
        vals = [*root[t]]
        for j in order:
            vals += list(euler[t, j])  # already Z, X, Y
        lines.append(" ".join(f"{v:.4f}" for v in vals))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _dfs_order() -> list[int]:
    out: list[int] = []

    def visit(j: int) -> None:
        out.append(j)
        for c in CHILDREN[j]:
            visit(c)

    visit(0)
    return out


def read_bvh(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read a BVH written by :func:`write_bvh`: (T, 17, 3) camera-frame joint positions in metres, fps."""
    with open(path) as f:
        text = f.read().split()
    names, parents, offsets, stack = [], [], [], []
    i = 0
    while text[i] != "MOTION":
        tok = text[i]
        if tok in ("ROOT", "JOINT"):
            names.append(text[i + 1])
            parents.append(stack[-1] if stack else -1)
            i += 2
        elif tok == "End":
            i += 2
            depth = 1
            i += 1  # "{"
            while depth:
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
        elif tok == "{":
            stack.append(len(names) - 1)
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            offsets.append([float(v) for v in text[i + 1 : i + 4]])
            i += 4
        elif tok == "CHANNELS":
            i += 2 + int(text[i + 1])
        else:
            i += 1
    n_frames = int(text[i + 2])
    frame_time = float(text[i + 5])
    data = np.array(text[i + 6 :], dtype=np.float64).reshape(n_frames, -1)
    if [BVH_NAMES.index(n) for n in names] != _dfs_order():
        raise ValueError(f"{path}: not an occlupose H36M-17 BVH")
    offsets = np.array(offsets) / CM
    root = data[:, :3] / CM
    rots = Rotation.from_euler("ZXY", data[:, 3:].reshape(-1, 3), degrees=True).as_matrix()
    rots = rots.reshape(n_frames, len(names), 3, 3)
    pos = np.zeros((n_frames, len(names), 3))
    glob = np.zeros((n_frames, len(names), 3, 3))
    for k in range(len(names)):
        if parents[k] < 0:
            glob[:, k] = rots[:, k]
            pos[:, k] = root
        else:
            glob[:, k] = glob[:, parents[k]] @ rots[:, k]
            pos[:, k] = pos[:, parents[k]] + np.einsum("tij,j->ti", glob[:, parents[k]], offsets[k])
    out = np.zeros((n_frames, NUM_JOINTS, 3))
    out[:, [BVH_NAMES.index(n) for n in names]] = pos
    return out @ CAM_TO_BVH, 1.0 / frame_time
