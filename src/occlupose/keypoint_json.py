"""2D keypoints from other tools' JSON files, as one person's :class:`data.Input2D` track for ``occlupose lift``.

Three shapes are read (the kind is recognised from the file itself):

* **COCO results** (MMPose, Detectron2, Ultralytics and most COCO-style tools): a list of
  ``{"image_id": FRAME, "keypoints": [x, y, score] * K, "score": S, "track_id": ID}``, K = 17 (COCO) or 33
  (BlazePose), ``image_id`` the frame index; optionally inside ``{"annotations": [...]}``.
* **MMPose per-frame predictions**: ``[{"frame_id": FRAME, "instances": [{"keypoints": [[x, y]] * K,
  "keypoint_scores": [s] * K, "track_id": ID}]}]``.
* **MediaPipe landmarks**: ``{"width": W, "height": H, "frames": [[{"x", "y", "z", "visibility"}] * 33, ...]}``
  (a frame may also be ``{"landmarks": [...]}``, or empty where nobody was seen); ``x`` and ``y`` are MediaPipe's
  normalised image coordinates, so the image size is needed.

Any of them may carry ``fps`` (and ``width`` / ``height``) at the top level when it is a dict; otherwise the
caller passes the frame rate. One person is lifted per file: with several people in a frame, the one whose
``track_id`` is asked for, else the track seen in most frames; without track ids, the highest-scoring person
of each frame (a tool that tracks is better: the choice can jump between people).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from .data import Input2D, read_json
from .skeleton import LAYOUTS, to_h36m

#: keypoint count -> the layouts of :data:`skeleton.LAYOUTS` that tools write per frame
_BY_COUNT = {len(LAYOUTS[name]): name for name in ("coco17", "mediapipe33")}


def _layout(k: int, path) -> str:
    if k not in _BY_COUNT:
        raise ValueError(f"{path}: {k} keypoints per person; expected one of {sorted(_BY_COUNT)} "
                         f"({', '.join(f'{n}: {_BY_COUNT[n]}' for n in sorted(_BY_COUNT))})")
    return _BY_COUNT[k]


def _people_coco(items: list, path) -> list[tuple[int, object, float, np.ndarray]]:
    """(frame, track, score, (K, 3) x y s) per person of a COCO results list."""
    out = []
    for i, it in enumerate(items):
        if not isinstance(it, dict) or "keypoints" not in it:
            raise ValueError(f"{path}: entry {i} has no 'keypoints'")
        frame = it.get("image_id", it.get("frame_id", it.get("frame")))
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
            raise ValueError(f"{path}: entry {i} needs a frame index ('image_id' or 'frame_id', an integer >= 0)")
        kp = np.asarray(it["keypoints"], np.float64).reshape(-1)
        if kp.size % 3:
            raise ValueError(f"{path}: entry {i}: keypoints must be x, y, score triplets, got {kp.size} values")
        out.append((frame, it.get("track_id", it.get("track")), float(it.get("score", 1.0)), kp.reshape(-1, 3)))
    return out


def _people_mmpose(frames: list, path) -> list[tuple[int, object, float, np.ndarray]]:
    out = []
    for i, fr in enumerate(frames):
        frame = fr.get("frame_id", i)
        for j, inst in enumerate(fr.get("instances") or []):
            kp = np.asarray(inst.get("keypoints"), np.float64)
            sc = np.asarray(inst.get("keypoint_scores", np.ones(len(kp))), np.float64).reshape(-1)
            if kp.ndim != 2 or kp.shape[1] < 2 or sc.shape != (len(kp),):
                raise ValueError(f"{path}: frame {frame} person {j}: keypoints must be [[x, y], ...] with one "
                                 "score each in 'keypoint_scores'")
            score = float(np.mean(inst.get("bbox_score", sc.mean())))
            out.append((int(frame), inst.get("track_id"), score, np.column_stack([kp[:, :2], sc])))
    return out


def _people_mediapipe(doc: dict, path) -> list[tuple[int, object, float, np.ndarray]]:
    w, h = doc.get("width"), doc.get("height")
    if not all(isinstance(v, (int, float)) and v > 0 for v in (w, h)):
        raise ValueError(f"{path}: MediaPipe landmarks are normalised to the image: the file needs 'width' and "
                         "'height' (pixels) at its top level")
    out = []
    for i, fr in enumerate(doc["frames"]):
        marks = fr.get("landmarks") if isinstance(fr, dict) else fr
        if not marks:
            continue
        try:
            kp = np.array([[m["x"] * w, m["y"] * h, m.get("visibility", 1.0)] for m in marks], np.float64)
        except (TypeError, KeyError) as exc:
            raise ValueError(f"{path}: frame {i}: landmarks must be objects with 'x' and 'y' ({exc})") from None
        out.append((i, None, 1.0, kp))
    return out


def _scores(s: np.ndarray) -> np.ndarray:
    """A tool's per-keypoint scores in [0, 1]; COCO ground-truth flags (0 unlabelled, 1 occluded, 2 visible)
    become 0 / 1 (an annotated position is exact even when hidden)."""
    s = np.where(np.isfinite(s), s, 0.0)
    if s.size and s.max() > 1 and np.all(np.isin(s, (0, 1, 2))):
        return (s > 0).astype(np.float64)
    return np.clip(s, 0.0, 1.0)


def load_keypoint_json(path: str | os.PathLike, fps: float | None = None, track: object = None) -> Input2D:
    """One person's track (H36M-17, pixels) from a COCO-results, MMPose or MediaPipe JSON file (module doc).
    ``fps``: the frame rate when the file has none; ``track``: the ``track_id`` to lift."""
    path = Path(path)
    doc = read_json(path)
    meta = doc if isinstance(doc, dict) else {}
    if isinstance(doc, dict) and "frames" in doc and isinstance(doc["frames"], list) and (
            not doc["frames"] or not isinstance(doc["frames"][0], dict) or "landmarks" in doc["frames"][0]):
        people = _people_mediapipe(doc, path)
    else:
        items = doc.get("annotations", doc.get("frames")) if isinstance(doc, dict) else doc
        if not isinstance(items, list) or not items:
            raise ValueError(f"{path}: no keypoints found (expected a COCO results list, MMPose predictions or "
                             "MediaPipe landmarks; see occlupose.keypoint_json)")
        people = (_people_mmpose(items, path) if isinstance(items[0], dict) and "instances" in items[0]
                  else _people_coco(items, path))
    if not people:
        raise ValueError(f"{path}: no person in any frame")
    layout = _layout(len(people[0][3]), path)
    if any(len(p[3]) != len(people[0][3]) for p in people):
        raise ValueError(f"{path}: people have different numbers of keypoints")
    tracks = Counter(p[1] for p in people if p[1] is not None)
    chosen = None
    if track is not None:
        wanted = [t for t in tracks if str(t) == str(track)]
        if not wanted:
            raise ValueError(f"{path}: no track {track!r}; tracks: {sorted(map(str, tracks))}")
        chosen = wanted[0]
    elif tracks:
        chosen = tracks.most_common(1)[0][0]
    if chosen is not None:
        people = [p for p in people if p[1] == chosen]
    n = max(p[0] for p in people) + 1
    raw = np.zeros((n, len(people[0][3]), 3))
    best = np.full(n, -np.inf)
    for frame, _, score, kp in people:  # per frame, the highest-scoring person
        if score > best[frame]:
            raw[frame], best[frame] = kp, score
    if not np.all(np.isfinite(raw[..., :2])):
        raise ValueError(f"{path}: keypoints contain NaN or infinite values")
    fps = meta.get("fps", fps)
    if fps is None:
        raise ValueError(f"{path}: the file gives no frame rate: pass --fps")
    if not (isinstance(fps, (int, float)) and np.isfinite(fps) and fps > 0):
        raise ValueError(f"{path}: the frame rate must be a positive number, got {fps!r}")
    kp17, sc17 = to_h36m(raw[..., :2], _scores(raw[..., 2]), layout)
    width = int(meta.get("width") or np.ceil(raw[..., 0].max()) + 1)
    height = int(meta.get("height") or np.ceil(raw[..., 1].max()) + 1)
    extra = {} if chosen is None else {"track": chosen, "tracks": len(tracks)}
    if not (meta.get("width") and meta.get("height")):  # the image's size, so its centre, is not known
        extra["size_guessed"] = True
    return Input2D(kp17.astype(np.float32), sc17.astype(np.float32), width, height, float(fps), layout, extra)
