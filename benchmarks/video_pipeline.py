"""Per-stage frames/s of `occlupose run` (decode, detection, 2D, flow, tracking, lifting, render).

Cases on the bundled clip: the clip as it is (768x576, every person), the same with a landmark budget (a crowd's
people looked at in turn, the others carried by their optical flow: ``--landmark-budget``), and the clip resized to
640x480 with one person followed (``--max-people 1``). With ``--wheel`` (the pose2sim wheel of
benchmarks/realvideo.py), also 1080p with one person followed: a portrait clip as filmed (cam04 of its
Demo_SinglePerson, 1088x1920) and the same clip scaled to 1080 rows on a 1920x1080 landscape canvas.

Rerun: python benchmarks/video_pipeline.py [--video examples/street.mp4] [--threads 2] [--wheel WHEEL]
       [--search-after-loss 0] [--detect-tiles 0] [--landmark-budget 4 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from occlupose.deps import environment
from occlupose.lifter import load_checkpoint
from occlupose.pipeline import RunConfig, make_backend, run_video
from occlupose.render import render_run
from occlupose.video import VideoWriter, probe, read_frames


def resized_copy(src: str | Path, dst: Path, width: int, height: int, canvas: tuple[int, int] | None = None) -> None:
    """``src`` resized to width x height, centred on a black canvas (w, h) if given."""
    import cv2
    import numpy as np

    info = probe(src)
    cw, ch = canvas or (width, height)
    with VideoWriter(dst, info.fps, cw, ch, crf=18) as w:
        for _, _, frame in read_frames(src):
            out = np.zeros((ch, cw, 3), np.uint8)
            x0, y0 = (cw - width) // 2, (ch - height) // 2
            out[y0:y0 + height, x0:x0 + width] = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
            w.write(out)


class CountedBackend:
    """The front end's 2D backend, counting the crops it is given (one landmark model pass each)."""

    def __init__(self, cfg: RunConfig):
        self.inner = make_backend(cfg.backend, cfg.threads, cfg.weights, cfg.device, cfg.refine_landmarks,
                                  cfg.rotate_crops)
        self.layout = self.inner.layout
        self.crops = 0

    def estimate(self, frame, rois):
        self.crops += len(rois)
        return self.inner.estimate(frame, rois)


def measure(video: str | Path, model, cfg: RunConfig, label: str) -> None:
    backend = CountedBackend(cfg)
    result = run_video(video, model, cfg, backend=backend, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        render_run(video, result, Path(tmp) / "render.mp4", progress=False)
        result.seconds["render"] = time.perf_counter() - t0
    fps = result.stage_fps()
    front = result.front_end_seconds()
    info = result.video
    print(f"\n{label}: {info.width}x{info.height}, {result.frames} frames, {len(result.tracks)} people "
          f"(max_people={cfg.max_people or 'all'}, detect_every={cfg.detect_every})")
    print("| stage | seconds | frames/s |\n|---|---|---|")
    for k, v in result.seconds.items():
        print(f"| {k} | {v:.2f} | {fps[k]:.1f} |")
    print(f"| detection+2D+flow+tracking+lifting | {front:.2f} | **{result.frames / front:.1f}** |")
    followed = sum(len(t.frames) for t in result.tracks)
    print(f"landmark model passes: {backend.crops}; output tracks span {followed} person-frames "
          f"({backend.crops / max(result.frames, 1):.2f} a frame)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(Path(__file__).parents[1] / "examples" / "street.mp4"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--wheel", help="pose2sim-0.10.49 wheel: adds the 1080p one-person cases")
    ap.add_argument("--search-after-loss", type=float, default=RunConfig.search_after_loss,
                    help="the front end's search for lost people, seconds (0: off)")
    ap.add_argument("--detect-tiles", type=float, default=RunConfig.detect_tiles,
                    help="tiles across the frame's shorter side for the BlazePose detector (0: the whole frame only)")
    ap.add_argument("--landmark-budget", type=float, nargs="*", default=[4.0, 3.0],
                    help="the many-person case again with these landmark passes per frame (RunConfig.landmark_budget)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"environment: {environment()}")  # speeds depend on the CPU and these packages
    model = load_checkpoint(None).model
    cfg = RunConfig(threads=args.threads, search_after_loss=args.search_after_loss, detect_tiles=args.detect_tiles)
    measure(args.video, model, cfg, "clip as shipped, every person")
    for budget in args.landmark_budget:
        measure(args.video, model, replace(cfg, landmark_budget=budget),
                f"clip as shipped, every person, --landmark-budget {budget:g}")
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "640x480.mp4"
        resized_copy(args.video, small, 640, 480)
        measure(small, model, replace(cfg, max_people=1), "640x480, one person")
    wheel = ""
    if args.wheel:
        import zipfile

        name = "Pose2Sim/Demo_SinglePerson/videos/cam04.mp4"
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(args.wheel) as z:
            portrait = Path(z.extract(name, tmp))
            one = replace(cfg, max_people=1)
            measure(portrait, model, one, "1080p portrait, one person")
            landscape = Path(tmp) / "landscape.mp4"
            info = probe(portrait)
            resized_copy(portrait, landscape, round(info.width * 1080 / info.height), 1080, (1920, 1080))
            measure(landscape, model, one, "1080p landscape, one person")
        wheel = f" --wheel {args.wheel}"
    print(f"\nrerun: python benchmarks/video_pipeline.py --video {args.video} --threads {args.threads}{wheel} "
          f"--search-after-loss {args.search_after_loss:g} --detect-tiles {args.detect_tiles:g} "
          f"--landmark-budget {' '.join(f'{b:g}' for b in args.landmark_budget)}")


if __name__ == "__main__":
    main()
