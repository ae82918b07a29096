"""Builders of bad and unusual input files, shared by tests/test_bad_input.py and benchmarks/bad_input_sweep.py."""

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "street.mp4"


class Payload:
    """Unpickling this object runs ``os.mkdir(marker)``: the proof that a file ran code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def poisoned(src: Path, dst: Path, marker: Path) -> Path:
    """A copy of a real checkpoint with one extra entry that runs code when unpickled."""
    import torch

    ck = torch.load(src, weights_only=True)
    ck["notes"] = Payload(marker)
    torch.save(ck, dst)
    return dst


def write_input(path, t=40, seed=0, **change):
    rng = np.random.default_rng(seed)
    arrays = {"keypoints": rng.uniform(100, 400, (t, 17, 2)), "scores": rng.uniform(0.5, 1, (t, 17)),
              "width": 640, "height": 480, "fps": 30.0}
    arrays.update(change)
    np.savez(path, **arrays)
    return path


def make_video(path: Path, frames: list[np.ndarray], times: list[float] | None = None, fps: float = 25.0) -> Path:
    """Any size (a lossless codec takes odd sizes too), optionally with exact frame times (variable rate)."""
    import av

    h, w = frames[0].shape[:2]
    even = h % 2 == 0 and w % 2 == 0
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264" if even else "ffv1", rate=1000 if times is not None else Fraction(fps))
        s.width, s.height, s.pix_fmt = w, h, "yuv420p" if even else "yuv444p"
        if times is not None:
            s.codec_context.time_base = Fraction(1, 1000)
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            if times is not None:
                vf.pts, vf.time_base = int(round(times[i] * 1000)), Fraction(1, 1000)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def street_frames(n: int, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    import cv2

    from occlupose.video import read_frames

    out = [f for _, _, f in read_frames(EXAMPLE, 0, n)]
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in out] if size else out
