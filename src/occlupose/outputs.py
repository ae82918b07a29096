"""Result files for people: one track per person, written as npz, JSON (web tools), long-format CSV and BVH."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bvh import write_bvh
from .safeio import refuse_existing
from .skeleton import JOINT_NAMES


@dataclass
class PersonTrack:
    """One person's result over frames ``frames`` (T,) of the video: ``poses_3d`` (T, 17, 3) metres,
    root-relative camera frame; ``keypoints_2d`` (T, 17, 2) pixels; ``confidence`` (T, 17) after Eq. 2;
    ``reliable`` (T, 17) bool, what the lifter was told it could trust; ``times`` (T,) seconds from the
    video's first frame (its timestamps: right for variable frame rates too), None when unknown; ``root``
    (T, 3) metres, where the pelvis is in the camera frame (occlupose.trajectory), None when not placed."""

    track_id: int
    frames: np.ndarray
    poses_3d: np.ndarray
    keypoints_2d: np.ndarray
    confidence: np.ndarray
    reliable: np.ndarray
    times: np.ndarray | None = None
    root: np.ndarray | None = None

    def __post_init__(self) -> None:
        t = len(self.frames)
        shapes = {"poses_3d": (t, 17, 3), "keypoints_2d": (t, 17, 2), "confidence": (t, 17), "reliable": (t, 17)}
        if self.times is not None:
            shapes["times"] = (t,)
        if self.root is not None:
            shapes["root"] = (t, 3)
        for name, shape in shapes.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"track {self.track_id}: {name} must be {shape}, got {np.shape(getattr(self, name))}")

    def poses_camera(self) -> np.ndarray:
        """(T, 17, 3) joints where they are in the camera frame, metres: the pose placed at its root."""
        if self.root is None:
            raise ValueError(f"track {self.track_id} has no root position")
        return (np.asarray(self.poses_3d) + np.asarray(self.root)[:, None]).astype(np.float32)


OUTPUT_FILES = ("poses3d.npz", "poses3d.json", "poses3d.csv")


def output_paths(out_dir: Path, tracks: list[PersonTrack]) -> list[Path]:
    return [out_dir / f for f in OUTPUT_FILES] + [out_dir / f"track{t.track_id}.bvh" for t in tracks]


def write_tracks(out_dir: str | Path, tracks: list[PersonTrack], fps: float, overwrite: bool = False,
                 camera: dict | None = None, source: dict | None = None) -> list[Path]:
    """Write every result file; refuses to replace existing ones unless ``overwrite``. ``camera``: the
    intrinsics people were placed with; ``source``: the video they came from (path, width, height; for
    ``occlupose view``); both written to the JSON. Returns the paths."""
    out_dir = Path(out_dir)
    paths = output_paths(out_dir, tracks)
    refuse_existing(paths, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays = {"track_ids": np.array([t.track_id for t in tracks], dtype=np.int64), "fps": np.float64(fps),
              "joint_names": np.array(JOINT_NAMES)}
    for t in tracks:
        for name in ("frames", "poses_3d", "keypoints_2d", "confidence", "reliable", "times", "root"):
            if getattr(t, name) is not None:
                arrays[f"track{t.track_id}_{name}"] = np.asarray(getattr(t, name))
        if t.root is not None:
            arrays[f"track{t.track_id}_poses_3d_camera"] = t.poses_camera()
    np.savez_compressed(out_dir / "poses3d.npz", **arrays)
    doc = {
        "fps": fps, "joint_names": list(JOINT_NAMES), "units": "metres, camera frame (x right, y down, z forward); "
        "poses_3d root-relative, root: the pelvis's position (add it for each joint's place)",
        **({"camera": camera} if camera else {}), **({"source": source} if source else {}), "tracks": [
            {"id": t.track_id, "frames": np.asarray(t.frames).tolist(),
             **({"times": np.round(np.asarray(t.times, float), 6).tolist()} if t.times is not None else {}),
             **({"root": np.round(np.asarray(t.root, float), 4).tolist()} if t.root is not None else {}),
             "poses_3d": np.round(np.asarray(t.poses_3d, float), 5).tolist(),
             "keypoints_2d": np.round(np.asarray(t.keypoints_2d, float), 2).tolist(),
             "confidence": np.round(np.asarray(t.confidence, float), 4).tolist(),
             "reliable": np.asarray(t.reliable).astype(bool).tolist()} for t in tracks]}
    (out_dir / "poses3d.json").write_text(json.dumps(doc))
    with open(out_dir / "poses3d.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["track", "frame", "joint", "x", "y", "z", "u", "v", "confidence", "reliable",
                    "x_camera", "y_camera", "z_camera"])
        for t in tracks:
            cam = t.poses_camera() if t.root is not None else np.full_like(t.poses_3d, np.nan)
            for i, frame in enumerate(t.frames):
                for j, name in enumerate(JOINT_NAMES):
                    x, y, z = t.poses_3d[i, j]
                    u, v = t.keypoints_2d[i, j]
                    w.writerow([t.track_id, int(frame), name, f"{x:.5f}", f"{y:.5f}", f"{z:.5f}", f"{u:.2f}",
                                f"{v:.2f}", f"{t.confidence[i, j]:.4f}", int(bool(t.reliable[i, j])),
                                *(f"{c:.4f}" if np.isfinite(c) else "" for c in cam[i, j])])
    for t in tracks:  # with a root, the BVH's root channels carry where the person goes
        write_bvh(out_dir / f"track{t.track_id}.bvh", constant_rate(t, fps), fps)
    return paths


def constant_rate(track: PersonTrack, fps: float) -> np.ndarray:
    """(N, 17, 3) poses (in the camera frame when the track has a root) at a constant ``fps`` over the track's
    time span, for formats with one frame time (BVH): the poses themselves when the track's frames are already
    evenly spaced at that rate."""
    poses = track.poses_camera() if track.root is not None else track.poses_3d
    if track.times is None or len(track.times) < 2:
        return poses
    from .lifter import resample_at, uniform_times

    t = np.asarray(track.times, np.float64)
    grid = uniform_times(t, fps)
    if len(grid) == len(t) and np.allclose(grid, t, atol=0.25 / fps):
        return poses
    return resample_at(poses, t, grid).astype(np.float32)
