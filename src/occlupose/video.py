"""Video files in and out, through PyAV (FFmpeg's libraries inside a wheel: no system ffmpeg needed).

Reading gives RGB frames (H, W, 3) uint8 with their index in the file; writing makes H.264 mp4 that browsers and
players show. Every problem with an input file becomes a ``ValueError("<file>: <problem>")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .deps import require


def _av():
    return require("av", "video input and output")


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    #: frames the container announces (an estimate for some formats; 0 when unknown)
    frame_count: int


def probe(path: str | Path) -> VideoInfo:
    """Open a video, check it has a decodable video stream, and say its size, frame rate and length."""
    av = _av()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a video")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 0.0
            count = int(stream.frames or 0)
            if not count and stream.duration and stream.time_base and fps:
                count = int(round(float(stream.duration * stream.time_base) * fps))
            if not count and container.duration and fps:
                count = int(round(container.duration / 1e6 * fps))
            width, height = stream.codec_context.width, stream.codec_context.height
    except av.error.FFmpegError as exc:
        raise ValueError(f"{path}: not a readable video ({exc})") from exc
    if width <= 0 or height <= 0:
        raise ValueError(f"{path}: video stream has no picture size")
    if not fps or not np.isfinite(fps):
        fps = 25.0
    return VideoInfo(path, width, height, fps, count)


def read_frames(path: str | Path, start: int = 0, end: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, RGB frame (H, W, 3) uint8) for frames start <= index < end, decoding from the beginning
    (exact frame indices, whatever the container's seek accuracy)."""
    av = _av()
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for i, frame in enumerate(container.decode(stream)):
                if end is not None and i >= end:
                    break
                if i >= start:
                    yield i, frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as exc:
        raise ValueError(f"{path}: decoding failed ({exc})") from exc


class VideoWriter:
    """H.264 mp4 writer: ``with VideoWriter(path, fps, width, height) as w: w.write(rgb)``. Odd sizes are padded."""

    def __init__(self, path: str | Path, fps: float, width: int, height: int, crf: int = 23):
        av = _av()
        self.path = Path(path)
        self.width, self.height = width + width % 2, height + height % 2
        self._container = av.open(str(self.path), mode="w")
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        self._av = av

    def write(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        if (h, w) != (self.height, self.width):
            padded = np.zeros((self.height, self.width, 3), np.uint8)
            padded[:h, :w] = rgb[: self.height, : self.width]
            rgb = padded
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
