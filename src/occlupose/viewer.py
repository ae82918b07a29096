"""``occlupose view``: one self-contained HTML page to look around a result: the video (a small re-encoded
copy inside the page) with the 2D keypoints over it, every person's 3D skeleton in a scene to orbit, zoom and
pan, a timeline, a person list. Occluded (missing) joints are red rings, as in ``render.mp4``.

The page needs no server and no network: the data and the video are inside it, and the 3D is drawn by a
few hundred lines of plain canvas code in the page itself (no library, so nothing to vendor or license).
"""

from __future__ import annotations

import base64
import json
import tempfile
from fractions import Fraction
from importlib import resources
from pathlib import Path

import numpy as np

from .data import read_json
from .render import _SIDE, TRACK_COLOURS, scene_extent
from .skeleton import BONES

PAGE = "viewer_page.html"


def load_result(folder: str | Path) -> dict:
    """poses3d.json of an ``occlupose run`` / ``live`` output folder, checked."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (give the output folder of occlupose run or live)")
    path = folder / "poses3d.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no poses3d.json in it (write one with occlupose run or live)")
    doc = read_json(path)
    tracks = doc.get("tracks") if isinstance(doc, dict) else None
    if not isinstance(tracks, list) or not tracks:
        raise ValueError(f"{path}: holds no tracks")
    for t in tracks:
        n = len(t.get("frames", []))
        shapes = {"poses_3d": (n, 17, 3), "keypoints_2d": (n, 17, 2), "reliable": (n, 17)}
        for name, shape in shapes.items():
            if np.shape(t.get(name)) != shape:
                raise ValueError(f"{path}: track {t.get('id')}: {name} is not {shape}")
    return doc


def preview_video(path: str | Path, height: int = 360, kbps: int = 250, first: int = 0, end: int | None = None
                  ) -> tuple[bytes, float]:
    """A small WebM (VP8) copy of frames [first, end) of ``path``, at most ``height`` rows tall, each frame at
    its own time. Returns (the file's bytes, the time of frame ``first`` counted from frame 0, as the result
    files count times)."""
    import av
    import cv2

    from .video import read_frames

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "preview.webm"
        container = stream = zero = origin = size = None
        last = -1
        try:
            for index, stamp, frame in read_frames(path, 0, end):
                zero = stamp if zero is None else zero
                if index < first:
                    continue
                if container is None:
                    h, w = frame.shape[:2]
                    s = min(1.0, height / h)
                    size = (max(2, round(w * s / 2) * 2), max(2, round(h * s / 2) * 2))
                    container = av.open(str(out), "w")
                    stream = container.add_stream("libvpx", rate=1000)
                    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
                    stream.bit_rate = kbps * 1000
                    stream.options = {"deadline": "realtime", "cpu-used": "8"}
                    origin = stamp
                small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(small), format="rgb24")
                last = vf.pts = max(int(round((stamp - origin) * 1000)), last + 1)
                vf.time_base = Fraction(1, 1000)
                for packet in stream.encode(vf):
                    container.mux(packet)
            if container is None:
                raise ValueError(f"{path}: no frames to show")
            for packet in stream.encode():
                container.mux(packet)
        finally:
            if container is not None:
                container.close()
        return out.read_bytes(), float(origin - zero)


def _pixels(kp: np.ndarray) -> list:
    """(T, 17, 2) -> nested lists of whole pixels, None where a keypoint is not finite."""
    ok = np.isfinite(kp).all(-1)
    rounded = np.round(np.where(ok[..., None], kp, 0)).astype(np.int64).tolist()
    return [[xy if good else None for xy, good in zip(row, oks)] for row, oks in zip(rounded, ok.tolist())]


def page_data(doc: dict, video: bytes | None, video_origin: float = 0.0, missing: str = "",
              size: tuple[int, int] | None = None) -> dict:
    """What the page draws, compact: poses in whole millimetres, keypoints in whole pixels, reliability as
    '0'/'1' strings."""
    tracks = doc["tracks"]
    placed = all(t.get("root") is not None and np.isfinite(np.asarray(t["root"], float)).all() for t in tracks)
    out_tracks = []
    for k, t in enumerate(tracks):
        poses = np.asarray(t["poses_3d"], float)
        times = np.asarray(t.get("times") or np.asarray(t["frames"]) / float(doc.get("fps") or 30.0), float)
        out_tracks.append({
            "id": int(t["id"]), "frames": [int(f) for f in t["frames"]],
            "times": np.round(times - video_origin, 4).tolist(),
            "poses_3d": np.round(poses * 1000).astype(np.int64).tolist(),  # millimetres
            "keypoints_2d": _pixels(np.asarray(t["keypoints_2d"], float)),
            "reliable": ["".join("1" if r else "0" for r in row) for row in np.asarray(t["reliable"], bool)],
            "root": np.round(np.asarray(t["root"], float), 3).tolist() if placed else None,
            "slot": float(k - (len(tracks) - 1) / 2),
        })
    if placed:
        centre, radius = scene_extent(np.concatenate([np.asarray(t["root"], float) for t in tracks]))
        world = np.concatenate([np.asarray(t["poses_3d"], float) + np.asarray(t["root"], float)[:, None]
                                for t in tracks])
    else:
        centre, radius = np.array([0.0, 0.0, 4.0]), max(1.5, len(tracks) / 2 + 0.5)
        world = np.concatenate([np.asarray(t["poses_3d"], float) for t in tracks]) + centre
    floor = -float(np.median(world[..., 1].max(-1)))  # world y is up: the feet's level
    distance = max(3.0, 1.6 * radius + 1.5)
    source = doc.get("source") or {}
    return {
        "fps": float(doc.get("fps") or 30.0), "bones": BONES.tolist(), "sides": _SIDE.tolist(),
        "colours": ["#" + "".join(f"{int(c):02x}" for c in col) for col in TRACK_COLOURS],
        "tracks": out_tracks,
        "scene": {"placed": placed, "centre": np.round(centre, 3).tolist(), "radius": round(radius, 3),
                  "floor": round(floor, 3), "distance": round(distance, 3)},
        "video": {"src": ("data:video/webm;base64," + base64.b64encode(video).decode()) if video else None,
                  "width": source.get("width") or (size or (None, None))[0],
                  "height": source.get("height") or (size or (None, None))[1], "missing": missing},
        "note": (doc.get("camera") or {}).get("note", ""),
    }


def build_page(doc: dict, video: bytes | None = None, video_origin: float = 0.0, missing: str = "",
               title: str = "result", size: tuple[int, int] | None = None) -> str:
    """The page, one string: ``doc`` (a poses3d.json), the WebM ``video`` (or None, saying ``missing`` why)
    whose first frame is at ``video_origin`` s of the result's times; ``size``: the video's (width, height)
    where the result does not say it."""
    template = resources.files("occlupose").joinpath(PAGE).read_text(encoding="utf-8")
    data = json.dumps(page_data(doc, video, video_origin, missing, size), separators=(",", ":"), allow_nan=False)
    data = data.replace("</", "<\\/")  # inside a <script> element
    safe_title = "".join(c for c in title if c.isprintable() and c not in "<>&\"'")
    return template.replace("__TITLE__", safe_title).replace("__DATA__", data)


def video_for(doc: dict, given: str | None) -> tuple[Path | None, str]:
    """The video to show: ``given``, else the one the result names if it is still there; else None and why."""
    if given:
        path = Path(given)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such video")
        return path, ""
    named = (doc.get("source") or {}).get("video")
    if not named:
        return None, "this result does not name its video: give it with --video FILE"
    if named.startswith("camera "):
        return None, f"live from {named}: no video was kept"
    if not Path(named).is_file():
        return None, f"the video {named} is no longer there: give it with --video FILE"
    return Path(named), ""


def frame_span(doc: dict) -> tuple[int, int]:
    """The frames the result covers: first, one past the last."""
    frames = [f for t in doc["tracks"] for f in t["frames"]]
    return int(min(frames)), int(max(frames)) + 1
