"""Data layouts: the open CMU mocap file, VideoPose3D-style Human3.6M files, the project's 2D input file,
and training windows.

Every loader validates what it reads and raises ``ValueError("<file>: <problem>")`` for a bad file, so the
CLI can print one clear line instead of a traceback.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .skeleton import LAYOUTS, NUM_JOINTS, to_h36m

#: VideoPose3D keeps these 17 of Human3.6M's 32 joints (the others are static or duplicates).
H36M32_TO_17 = np.array([0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27])

MOCAP_FILE = "cmu_h36m17_50fps.npz"


def read_json(path: str | os.PathLike, what: str = "file"):
    """A JSON document, with one clear error for a missing or malformed file (``what``: how to name it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def _open_npz(path: str | os.PathLike, allow_pickle: bool = False):
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not an .npz file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        z = np.load(path, allow_pickle=allow_pickle)
    except Exception as exc:  # numpy raises several kinds for a corrupt file
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from exc
    if not isinstance(z, np.lib.npyio.NpzFile):  # a .npy (one array) renamed, or a pickle
        raise ValueError(f"{path}: not an .npz archive (it holds a single array; save with np.savez)")
    return z


def _member(z, key: str, path) -> np.ndarray:
    """One array of an .npz; a pickled member (it could run code) or a corrupt one is a clear error."""
    try:
        return z[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ValueError(f"{path}: {key!r} holds pickled Python objects, and loading a pickle can run code; "
                             "occlupose reads plain arrays only") from exc
        raise ValueError(f"{path}: cannot read {key!r} ({exc})") from exc
    except Exception as exc:
        raise ValueError(f"{path}: cannot read {key!r} ({exc})") from exc


def _pickled_dict(path, key: str, allow_pickle: bool) -> dict:
    """VideoPose3D stores nested dicts as pickled object arrays. Unpickling can run code hidden in a file, so
    it happens only when the caller trusts the file and says so (``allow_pickle``, CLI ``--allow-pickle``)."""
    z = _open_npz(path, allow_pickle=allow_pickle)
    if key not in z.files:
        raise ValueError(f"{path}: missing key {key!r}")
    if not allow_pickle:
        raise ValueError(f"{path}: VideoPose3D-style files store {key!r} as a pickle, and unpickling a file can run "
                         "code in it; if you trust this file, pass allow_pickle=True (CLI: --allow-pickle)")
    arr = _member(z, key, path)
    data = arr.item() if arr.size == 1 else None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: {key!r} must be a pickled dict")
    return data


def _check_poses(arr: np.ndarray, path, what: str, dims: int = 3) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 3 or arr.shape[1] != NUM_JOINTS or arr.shape[2] != dims:
        raise ValueError(f"{path}: {what} must have shape (T, {NUM_JOINTS}, {dims}), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{path}: {what} has no frames")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{path}: {what} is not numeric (dtype {arr.dtype})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{path}: {what} contains NaN or infinite values")
    return arr


# --- Open mocap -------------------------------------------------------------------------------------------


@dataclass
class Mocap:
    """Clips ``key -> (T, 17, 3)`` float32 world poses (Z-up, metres) with the file's metadata."""

    clips: dict[str, np.ndarray]
    meta: dict
    fps: float
    path: str = ""

    def keys(self, split: str | None = None, subjects: list[str] | None = None) -> list[str]:
        """Clip keys of a split ("train"/"test") and/or a list of subjects, in a fixed order."""
        out = []
        for k in sorted(self.clips):
            info = self.meta.get("clips", {}).get(k, {})
            if split is not None and info.get("split") != split:
                continue
            if subjects is not None and k.split("/", 1)[0] not in subjects:
                continue
            out.append(k)
        return out

    def subjects(self, split: str | None = None) -> list[str]:
        return sorted({k.split("/", 1)[0] for k in self.keys(split)})


def bundled_mocap() -> Path:
    """The open CMU mocap file that ships inside the package (``occlupose/mocap/``, licence in its README)."""
    return Path(__file__).resolve().parent / "mocap" / MOCAP_FILE


def find_mocap(path: str | os.PathLike | None = None) -> Path:
    """The mocap file: ``path``, else ``$OCCLUPOSE_DATA`` (a file or a folder holding it), else the bundled
    copy."""
    if path is not None:
        return Path(path)
    env = os.environ.get("OCCLUPOSE_DATA")
    if env:
        p = Path(env)
        return p / MOCAP_FILE if p.is_dir() else p
    p = bundled_mocap()
    if not p.is_file():
        raise FileNotFoundError(f"{p}: the bundled mocap file is missing from this installation; pass a file "
                                "with --data or set OCCLUPOSE_DATA")
    return p


#: more open mocap bundled beside the main file, by name (``TrainConfig.extra_data``; licences in the README)
EXTRA_MOCAP = {"cmu_extra": "cmu_extra_h36m17_50fps.npz", "hdm05": "hdm05_h36m17_50fps.npz"}


def extra_mocap_path(name: str) -> Path:
    """A bundled extra file by name (``cmu_extra``, ``hdm05``), or any path to a file of the same layout."""
    if name in EXTRA_MOCAP:
        return Path(__file__).resolve().parent / "mocap" / EXTRA_MOCAP[name]
    return Path(name)


def merge_mocap(main: Mocap, extra: list[Mocap], split: str = "train") -> Mocap:
    """``main`` plus the ``split`` clips of each ``extra`` file (their other clips, e.g. more of a test
    subject, are left out). A clip key present twice is an error: a trial must not be counted twice."""
    clips, info = dict(main.clips), dict(main.meta.get("clips", {}))
    for m in extra:
        if abs(m.fps - main.fps) > 1e-6:
            raise ValueError(f"{m.path}: {m.fps:g} fps, but {main.path} is {main.fps:g} fps")
        for k in m.keys(split):
            if k in clips:
                raise ValueError(f"clip {k!r} is in both {main.path} and {m.path}")
            clips[k], info[k] = m.clips[k], m.meta["clips"][k]
    return Mocap(clips, {**main.meta, "clips": info}, main.fps, "+".join([main.path, *(m.path for m in extra)]))


def load_mocap(path: str | os.PathLike | None = None) -> Mocap:
    """Load the open CMU mocap file (see ``occlupose/mocap/README.md``)."""
    path = find_mocap(path)
    z = _open_npz(path)
    if "__meta__" not in z.files:
        raise ValueError(f"{path}: missing key '__meta__' (the clip metadata)")
    try:
        meta = json.loads(str(_member(z, "__meta__", path)))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: '__meta__' is not valid JSON ({exc})") from exc
    clips = {}
    for k in z.files:
        if k == "__meta__":
            continue
        clips[k] = _check_poses(_member(z, k, path), path, f"clip {k!r}").astype(np.float32)
    if not clips:
        raise ValueError(f"{path}: no clips")
    return Mocap(clips=clips, meta=meta, fps=float(meta.get("fps", 50)), path=str(path))


# --- VideoPose3D-style Human3.6M ---------------------------------------------------------------------------


def load_h36m_3d(path: str | os.PathLike, allow_pickle: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """``data_3d_h36m.npz``: ``positions_3d[subject][action]`` of (T, 32, 3) or (T, 17, 3), metres.

    Returns ``{subject: {action: (T, 17, 3) float32}}`` in world coordinates (Z-up). The file is a pickle:
    read only with ``allow_pickle=True``, for files you trust.
    """
    data = _pickled_dict(path, "positions_3d", allow_pickle)
    out: dict[str, dict[str, np.ndarray]] = {}
    for subject, actions in data.items():
        out[subject] = {}
        for action, arr in actions.items():
            arr = np.asarray(arr)
            if arr.ndim == 3 and arr.shape[1] == 32:
                arr = arr[:, H36M32_TO_17]
            out[subject][action] = _check_poses(arr, path, f"positions_3d[{subject}][{action}]").astype(np.float32)
    return out


def load_h36m_2d(path: str | os.PathLike, allow_pickle: bool = False
                 ) -> tuple[dict[str, dict[str, list[np.ndarray]]], dict]:
    """``data_2d_h36m_*.npz``: ``positions_2d[subject][action]`` = list over cameras of (T, 17, 2|3) pixels.

    Returns (positions, metadata); a third channel (detector score) is kept when present. The file is a
    pickle: read only with ``allow_pickle=True``, for files you trust.
    """
    data = _pickled_dict(path, "positions_2d", allow_pickle)
    meta = _pickled_dict(path, "metadata", allow_pickle)
    n = meta.get("num_joints", NUM_JOINTS)
    if n != NUM_JOINTS:
        raise ValueError(f"{path}: metadata says {n} joints; only the 17-joint H36M layout is supported")
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for subject, actions in data.items():
        out[subject] = {}
        for action, cams in actions.items():
            checked = []
            for c, arr in enumerate(cams):
                arr = np.asarray(arr)
                dims = arr.shape[-1] if arr.ndim == 3 and arr.shape[-1] in (2, 3) else 2
                checked.append(_check_poses(arr, path, f"positions_2d[{subject}][{action}][{c}]", dims)
                               .astype(np.float32))
            out[subject][action] = checked
    return out, meta


def save_h36m_3d(path: str | os.PathLike, positions: dict[str, dict[str, np.ndarray]]) -> None:
    np.savez_compressed(path, positions_3d=np.array(positions, dtype=object))


def save_h36m_2d(path: str | os.PathLike, positions: dict, metadata: dict) -> None:
    np.savez_compressed(path, positions_2d=np.array(positions, dtype=object), metadata=np.array(metadata, dtype=object))


# --- The project's 2D input layout -------------------------------------------------------------------------


@dataclass
class Input2D:
    """One person's 2D track: ``keypoints`` (T, 17, 2) pixels, ``scores`` (T, 17) in [0, 1], H36M order."""

    keypoints: np.ndarray
    scores: np.ndarray
    width: int
    height: int
    fps: float
    layout: str = "h36m"
    extra: dict = field(default_factory=dict)


def load_input_2d(path: str | os.PathLike) -> Input2D:
    """Read the project's 2D input file (README, "2D input layout") and map it to H36M-17.

    Keys: ``keypoints`` (T, K, 2) pixels, ``scores`` (T, K) in [0, 1], ``width``, ``height``, ``fps``; optional
    ``layout`` ("h36m" default, "coco17" or "mediapipe33") naming the keypoint order, and ``focal``, the camera's
    focal length in pixels (in ``extra``; a model that lifts along the viewing ray turns its 3D with it).
    """
    z = _open_npz(path)
    missing = [k for k in ("keypoints", "scores", "width", "height", "fps") if k not in z.files]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}")
    layout = "h36m"
    if "layout" in z.files:
        raw = _member(z, "layout", path)
        if raw.shape != () or raw.dtype.kind not in "US":
            raise ValueError(f"{path}: layout must be a single string, got {raw.dtype} of shape {raw.shape}")
        layout = str(raw)
    if layout != "h36m" and layout not in LAYOUTS:
        raise ValueError(f"{path}: unknown layout {layout!r}; expected one of {['h36m', *LAYOUTS]}")
    n = NUM_JOINTS if layout == "h36m" else len(LAYOUTS[layout])
    kp, sc = (_numeric(_member(z, k, path), path, k) for k in ("keypoints", "scores"))
    if kp.ndim != 3 or kp.shape[1:] != (n, 2):
        raise ValueError(f"{path}: keypoints must be (T, {n}, 2) for layout {layout!r}, got {kp.shape}")
    if sc.shape != kp.shape[:2]:
        raise ValueError(f"{path}: scores must be (T, {n}) to match keypoints, got {sc.shape}")
    if kp.shape[0] == 0:
        raise ValueError(f"{path}: no frames (T = 0)")
    if not np.all(np.isfinite(kp)) or not np.all(np.isfinite(sc)):
        raise ValueError(f"{path}: keypoints or scores contain NaN or infinite values "
                         "(mark a missing keypoint with score 0 instead)")
    if sc.min() < 0 or sc.max() > 1:
        raise ValueError(f"{path}: scores must lie in [0, 1], got [{sc.min():.3g}, {sc.max():.3g}]")
    width, height, fps = (_scalar(_member(z, k, path), path, k) for k in ("width", "height", "fps"))
    kp17, sc17 = to_h36m(kp, sc, layout)
    extra = {}
    if "focal" in z.files:
        extra["focal"] = _scalar(_member(z, "focal", path), path, "focal")
    if "gt_poses_3d" in z.files:  # examples made from mocap carry their 3D truth
        extra["gt_poses_3d"] = _check_poses(_member(z, "gt_poses_3d", path), path, "gt_poses_3d")
    return Input2D(kp17.astype(np.float32), sc17.astype(np.float32), int(width), int(height), fps, layout, extra)


def _numeric(arr: np.ndarray, path, key: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{path}: {key} must be numeric, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _scalar(arr: np.ndarray, path, key: str) -> float:
    """A positive, finite number stored as a 0-d (or 1-element) array."""
    if arr.size != 1 or arr.dtype.kind not in "biuf":
        raise ValueError(f"{path}: {key} must be a single number, got {arr.dtype} of shape {arr.shape}")
    v = float(arr.reshape(()))
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{path}: {key} must be a positive number, got {v}")
    return v


def save_input_2d(path: str | os.PathLike, keypoints: np.ndarray, scores: np.ndarray, width: int, height: int,
                  fps: float, layout: str = "h36m", focal: float | None = None) -> None:
    np.savez_compressed(path, keypoints=np.asarray(keypoints, np.float32), scores=np.asarray(scores, np.float32),
                        width=width, height=height, fps=fps, layout=layout,
                        **({} if focal is None else {"focal": float(focal)}))


# --- Training windows --------------------------------------------------------------------------------------


def window_indices(offsets: np.ndarray, lengths: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """(N, window) frame indices into a concatenation of clips, duplicate-padded at clip edges.

    Window n covers frames ``starts[n] .. starts[n] + window - 1`` of clip n (which starts at
    ``offsets[n]`` and has ``lengths[n]`` frames); frames outside the clip repeat its first/last frame.
    """
    local = starts[:, None] + np.arange(window)[None, :]
    local = np.clip(local, 0, lengths[:, None] - 1)
    return offsets[:, None] + local


def sample_windows(rng: np.random.Generator, lengths: np.ndarray, n: int, window: int,
                   weights: np.ndarray | None = None) -> np.ndarray:
    """Random windows over clips of ``lengths``: returns (n, window) indices into the concatenation.

    A clip is chosen with probability proportional to its length (or ``weights``); the start is uniform
    so that every frame can be at any position, up to a quarter window of edge padding on each side.
    """
    lengths = np.asarray(lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    p = (lengths if weights is None else np.asarray(weights)).astype(np.float64)
    clip = rng.choice(len(lengths), size=n, p=p / p.sum())
    pad = window // 4
    lo = -pad
    hi = np.maximum(lengths[clip] - window + pad, lo)
    starts = rng.integers(lo, hi + 1)
    return window_indices(offsets[clip], lengths[clip], starts, window)


#: The usual Human3.6M protocol: train on S1, S5-S8, test on S9 and S11.
H36M_TEST_SUBJECTS = ("S9", "S11")


def mocap_from_h36m(positions: dict[str, dict[str, np.ndarray]], path: str = "",
                    test_subjects: tuple[str, ...] = H36M_TEST_SUBJECTS) -> Mocap:
    """Wrap VideoPose3D-style 3D positions as a :class:`Mocap` (keys "S9/Walking 1", 50 fps, Z-up)."""
    clips, info = {}, {}
    for subject, actions in positions.items():
        for action, arr in actions.items():
            key = f"{subject}/{action}"
            clips[key] = arr
            info[key] = {"subject": subject, "clip": action,
                         "split": "test" if subject in test_subjects else "train"}
    return Mocap(clips=clips, meta={"clips": info, "fps": 50}, fps=50.0, path=path)
