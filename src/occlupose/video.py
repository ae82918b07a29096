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


def read_frames(path: str | Path, start: int = 0, end: int | None = None, problems: list[str] | None = None
                ) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield (index, time in seconds, RGB frame (H, W, 3) uint8) for frames start <= index < end, decoding
    from the beginning (exact frame indices, whatever the container's seek accuracy).

    Times are the frames' presentation timestamps, so a variable-frame-rate video keeps its true timing
    (a frame without one gets the previous time plus one nominal interval). A file that stops decoding part
    way (damaged or truncated) ends the frames there; with ``problems`` given, the reason is appended to it
    instead of raising."""
    av = _av()
    path = Path(path)
    i = -1
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            step = 1.0 / float(rate) if rate else 1.0 / 25.0
            t_prev = None
            for i, frame in enumerate(container.decode(stream)):
                if end is not None and i >= end:
                    break
                t = frame.time
                if t is None or (t_prev is not None and t <= t_prev):
                    t = (t_prev + step) if t_prev is not None else 0.0
                t_prev = t
                if i >= start:
                    yield i, float(t), frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as exc:
        if problems is None or i < 0:
            raise ValueError(f"{path}: decoding failed ({exc})") from exc
        problems.append(f"{path}: decoding stopped after frame {i} ({exc}); the file may be damaged or "
                        "truncated, results cover the frames before")


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
        self._time_base = Fraction(1, 1000)
        self._stream.codec_context.time_base = self._time_base
        self._t0: float | None = None
        self._last_pts = -1
        self._count, self._fps = 0, float(fps)
        self._av = av

    def write(self, rgb: np.ndarray, time: float | None = None) -> None:
        """Append a frame; ``time`` (seconds) places it exactly (variable frame rate), else the next slot."""
        h, w = rgb.shape[:2]
        if (h, w) != (self.height, self.width):
            padded = np.zeros((self.height, self.width, 3), np.uint8)
            padded[:h, :w] = rgb[: self.height, : self.width]
            rgb = padded
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        if time is None:
            time = (self._t0 or 0.0) + self._count / self._fps
        if self._t0 is None:
            self._t0 = time
        pts = max(int(round((time - self._t0) / self._time_base)), self._last_pts + 1)
        frame.pts, frame.time_base = pts, self._time_base
        self._last_pts = pts
        self._count += 1
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
