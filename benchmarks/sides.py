"""Is keeping left and right consistent (``occlupose.sides``) right where nothing scores it? Eq. 2 as referee.

On any clip, for every track where ``consistent_sides`` mirrors frames back, the optical flow at the keypoints
says whether the new labels move the way the image does: Eq. 2's C* of the limb joints in the mirrored frames
and their neighbours, with the model's labels and with the mended ones (higher: the keypoints' motion agrees
better with the flow; the flow knows nothing of labels). Clips: the bundled street clip (10 frames/s, people
walking side-on, no ground truth) and, with ``--wheel``, the 8 real-video benchmark views (60 frames/s).

Rerun: python benchmarks/sides.py [--wheel WHEELS/pose2sim-0.10.49-py3-none-any.whl]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from occlupose.occlusion import OcclusionFilterConfig, track_confidence
from occlupose.pipeline import RunConfig, dense_track, track_video
from occlupose.sides import LIMBS, consistent_sides, mirror_frames

HERE = Path(__file__).parent


def track_rows(video: Path, cfg: RunConfig, sigma: float, b: float) -> list[tuple]:
    """(track id, frames mirrored, frames seen, limb C* before, after, % reliable before, after) per track with
    any frame mirrored."""
    _, found, *_ = track_video(video, cfg, progress=False)
    rows = []
    for t in found:
        _, kp, conf, size, seen, flow, ok = dense_track(t)
        mirrored = consistent_sides(kp, seen, size) & seen
        if not mirrored.any():
            continue
        near = np.convolve(mirrored, np.ones(3), mode="same") > 0  # the frames and their neighbours
        near &= seen
        before = track_confidence(conf, kp, seen, flow, ok, size, sigma)[near][:, LIMBS]
        kp2, conf2, flow2, ok2 = mirror_frames(mirrored, kp, conf, flow, ok)
        after = track_confidence(conf2, kp2, seen, flow2, ok2, size, sigma)[near][:, LIMBS]
        rows.append((t.track_id, int(mirrored.sum()), int(seen.sum()), before.mean(), after.mean(),
                     100 * (before >= b).mean(), 100 * (after >= b).mean()))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", help="pose2sim-0.10.49-py3-none-any.whl: also the 8 real-video views")
    ap.add_argument("--work", default="/tmp/occlupose-realvideo")
    args = ap.parse_args()
    videos = [("street", HERE.parent / "examples" / "street.mp4")]
    if args.wheel:
        sys.path.insert(0, str(HERE))
        from realvideo import SCENES, extract

        for scene in ("multi", "single"):
            views, _ = extract(Path(args.wheel), Path(args.work), SCENES[scene])
            videos += [(f"{scene}/{v.stem}", v) for v in views]
    f = OcclusionFilterConfig()
    print("| clip | track | frames mirrored | limb C* there, model's labels | mended | reliable (C* >= b), model's | "
          "mended |")
    print("|---|---|---|---|---|---|---|")
    for name, video in videos:
        rows = track_rows(video, RunConfig(), f.sigma, f.threshold)
        for tid, m, n, c0, c1, r0, r1 in rows:
            print(f"| {name} | {tid} | {m} of {n} | {c0:.3f} | {c1:.3f} | {r0:.0f} % | {r1:.0f} % |", flush=True)
        if not rows:
            print(f"| {name} | – | none | | | | |", flush=True)
    print("\nrerun: python benchmarks/sides.py" + (f" --wheel {args.wheel}" if args.wheel else ""))


if __name__ == "__main__":
    main()
