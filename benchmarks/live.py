"""Speed and latency of `occlupose live` (the causal pipeline, one frame at a time, drawing included, no window).

Cases, each at 640x480 with one person followed (``--max-people 1``), with and without flip averaging:
* every frame of the file as fast as possible: the sustained frames/s;
* the file played at its own rate (30 frames/s), stale frames dropped as a camera's are: frames/s processed,
  frames dropped, and the latency from a frame being available to its picture being drawn.
The clip: with ``--wheel`` (the pose2sim wheel of benchmarks/realvideo.py) the four views of its
Demo_SinglePerson (1080x1920, one after another, slowed to 30 frames/s) letterboxed into 640x480; else the
bundled street clip resized to 640x480.

Rerun: python benchmarks/live.py [--wheel WHEEL] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from occlupose.lifter import load_checkpoint
from occlupose.live import FileSource, LiveConfig, run_live
from occlupose.pipeline import RunConfig
from occlupose.trajectory import TrajectoryConfig, intrinsics_for
from occlupose.video import VideoWriter, probe, read_frames


def letterboxed(sources: list[Path], dst: Path, width: int = 640, height: int = 480, fps: float = 30.0) -> None:
    """The frames of ``sources`` one after another, each scaled to fit width x height on black, at ``fps``."""
    import cv2

    with VideoWriter(dst, fps, width, height, crf=18) as w:
        for src in sources:
            for _, _, frame in read_frames(src):
                s = min(width / frame.shape[1], height / frame.shape[0])
                fw, fh = round(frame.shape[1] * s), round(frame.shape[0] * s)
                out = np.zeros((height, width, 3), np.uint8)
                x0, y0 = (width - fw) // 2, (height - fh) // 2
                out[y0:y0 + fh, x0:x0 + fw] = cv2.resize(frame, (fw, fh), interpolation=cv2.INTER_AREA)
                w.write(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", help="pose2sim-0.10.49 wheel (its Demo_SinglePerson videos)")
    ap.add_argument("--threads", type=int, default=2, help="threads of the landmark model")
    args = ap.parse_args()
    torch.set_num_threads(1)  # as `occlupose live` does
    loaded = load_checkpoint("causal")
    run = RunConfig(max_people=1, threads=args.threads, smoothing="one_euro",
                    trajectory=TrajectoryConfig(smoothing="one_euro"))
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip640.mp4"
        if args.wheel:
            with zipfile.ZipFile(args.wheel) as z:
                names = sorted(n for n in z.namelist() if "Demo_SinglePerson/videos/cam" in n and n.endswith(".mp4"))
                z.extractall(tmp, names)
            letterboxed([Path(tmp) / n for n in names], clip)
            what = "pose2sim Demo_SinglePerson, 4 views in turn, letterboxed"
        else:
            letterboxed([Path(__file__).parents[1] / "examples" / "street.mp4"], clip, fps=probe(
                Path(__file__).parents[1] / "examples" / "street.mp4").fps)
            what = "the bundled street clip, resized"
        info = probe(clip)
        print(f"clip: {what}: {info.width}x{info.height}, {info.frame_count} frames at {info.fps:g} frames/s; "
              f"one person followed; causal lifter fed frame by frame; {args.threads} landmark threads, 1 torch thread")
        print("| mode | flip averaging | frames/s | frames processed | dropped | latency median ms | p95 ms |")
        print("|---|---|---|---|---|---|---|")
        camera, _ = intrinsics_for(info.width, info.height)
        for flip in (False, True):
            loaded.model.cfg = replace(loaded.model.cfg, flip_test=flip)
            for every in (True, False):
                source = FileSource(clip, every_frame=every)
                r = run_live(source, loaded.model, run, camera, LiveConfig())
                s = r.summary()
                mode = "every frame, flat out" if every else f"at the file's rate ({info.fps:g}/s)"
                print(f"| {mode} | {'yes' if flip else 'no'} | **{s['frames_per_second']:.1f}** | "
                      f"{s['frames_processed']} | {s['frames_dropped']} | {s['latency_ms']['median']:.0f} | "
                      f"{s['latency_ms']['p95']:.0f} |")
    wheel = f" --wheel {args.wheel}" if args.wheel else ""
    print(f"\nrerun: python benchmarks/live.py{wheel} --threads {args.threads}")


if __name__ == "__main__":
    main()
