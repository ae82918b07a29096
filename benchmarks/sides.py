"""Is keeping left and right consistent (``occlupose.sides``) right where nothing scores it? Eq. 2 as referee.

On any clip, for every track where ``consistent_sides`` relabels frames, the optical flow at the keypoints says
whether the new labels move the way the image does: Eq. 2's C* of the limb joints in the relabelled frames and
their neighbours, with the model's labels and with the mended ones, for three rules (the whole body decided at
once, as before; legs and arms decided apart; apart, with a price for a frame labelled half one way, half the
other: the default) (higher: the keypoints' motion agrees
better with the flow; the flow knows nothing of labels). Clips: the bundled street clip (10 frames/s, people
walking side-on, no ground truth) and, with ``--wheel``, the 8 real-video benchmark views (60 frames/s).

With ``--reference`` (and ``--wheel``) it also checks the choice where something does score it: on the scored
person of each real-video view, every price of a half-mirrored frame (``sides.MIXED``; infinite: the whole body
decided at once; none: legs and arms decided apart) against the benchmark's frozen reference, group by group.

Rerun: python benchmarks/sides.py [--wheel WHEELS/pose2sim-0.10.49-py3-none-any.whl [--reference]]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from occlupose.occlusion import OcclusionFilterConfig, track_confidence
from occlupose.pipeline import RunConfig, dense_track, track_video
from occlupose.sides import GROUPS, LIMBS, MIXED, consistent_sides, mirror_frames

HERE = Path(__file__).parent


#: the rules compared: name -> the extra price of a frame labelled half one way, half the other (sides.MIXED)
RULES = {"whole body at once (the rule before)": float("inf"), "legs and arms apart, no price": 0.0,
         "legs and arms, priced (the default)": MIXED}


def track_rows(video: Path, cfg: RunConfig, sigma: float, b: float) -> list[tuple]:
    """(track id, frames seen, then per rule in RULES: frames relabelled, limb C* before, after, % reliable
    before, after) per track where any rule relabels a frame; C* over the same frames for every rule: those
    any rule relabels and their neighbours."""
    _, found, *_ = track_video(video, cfg, progress=False)
    rows = []
    for t in found:
        _, kp, conf, size, seen, flow, ok = dense_track(t)
        codes = [np.where(seen, consistent_sides(kp, seen, size, mixed=m), 0) for m in RULES.values()]
        relabelled = np.logical_or.reduce([c > 0 for c in codes])
        if not relabelled.any():
            continue
        near = np.convolve(relabelled, np.ones(3), mode="same") > 0  # the frames and their neighbours
        near &= seen
        before = track_confidence(conf, kp, seen, flow, ok, size, sigma)[near][:, LIMBS]
        row = [t.track_id, int(seen.sum())]
        for c in codes:
            kp2, conf2, flow2, ok2 = mirror_frames(c, kp, conf, flow, ok)
            after = track_confidence(conf2, kp2, seen, flow2, ok2, size, sigma)[near][:, LIMBS]
            row += [int((c > 0).sum()), before.mean(), after.mean(), 100 * (before >= b).mean(),
                    100 * (after >= b).mean()]
        rows.append(tuple(row))
    return rows


#: prices of a half-mirrored frame checked against the real-video reference (inf: the whole body at once)
PRICES = (float("inf"), 0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)


def group_decisions(kp: np.ndarray, frames: np.ndarray, codes: np.ndarray, ref2: np.ndarray, margin: float = 20.0
                    ) -> tuple[int, int, float]:
    """A track's (T, 17, 2) keypoints as the model labelled them, their (T,) frames and (T,) labeling codes,
    against the reference's (N, 17, 2) projection -> (group decisions checked, wrong, mean limb-joint error px
    after relabelling over the frames the reference has). A group is checked in a frame where its two labelings
    lie ``margin`` px or more apart in mean distance from the reference (legs crossing are not checked)."""
    on = frames < len(ref2)
    kp, codes, ref = kp[on], codes[on], ref2[frames[on]]
    fixed = mirror_frames(codes, kp)[0]
    err = np.linalg.norm(fixed[:, LIMBS] - ref[:, LIMBS], axis=-1)
    checked = wrong = 0
    for g, (left, right) in enumerate(GROUPS):
        joints, twins = np.concatenate([left, right]), np.concatenate([right, left])
        as_given = np.linalg.norm(kp[:, joints] - ref[:, joints], axis=-1).mean(-1)
        mirrored = np.linalg.norm(kp[:, twins] - ref[:, joints], axis=-1).mean(-1)
        clear = np.isfinite(as_given) & (np.abs(as_given - mirrored) >= margin)
        truth, chosen = mirrored < as_given, (codes >> g & 1).astype(bool)
        checked += int(clear.sum())
        wrong += int((clear & (truth != chosen)).sum())
    return checked, wrong, float(np.nanmean(err[np.isfinite(err).all(-1)]))


def reference_check(wheel: Path, work: Path) -> None:
    """Every price in PRICES on the scored person of each real-video view, with every person looked at in
    every frame and with the default landmark budget: wrong group decisions and limb error against the
    benchmark's frozen reference."""
    sys.path.insert(0, str(HERE))
    from realvideo import REFERENCE, SCENES, extract

    from occlupose.multiview import read_qca

    budgets = (0, RunConfig().landmark_budget)
    print("\n## Checked against the real-video reference: wrong group decisions of those checked, limb-joint px\n")
    print("| view | landmark budget | " + " | ".join(f"price {m:g}" for m in PRICES) + " |")
    print("|---|---|" + "---|" * len(PRICES))
    for scene in ("multi", "single"):
        views, calib = extract(wheel, work, SCENES[scene])
        with np.load(REFERENCE.format(scene=scene)) as z:
            world = z["world"]
        for video, cam in zip(views, read_qca(calib)):
            ref2 = cam.project(world)
            for budget in budgets:
                _, found, *_ = track_video(video, RunConfig(landmark_budget=budget), progress=False)
                best = None
                for t in found:
                    frames, kp, _, size, seen, *_ = dense_track(t)
                    on = frames < len(ref2)
                    d = np.linalg.norm(kp[on] - ref2[frames[on]], axis=-1)
                    d = np.nanmedian(d) if np.isfinite(d).any() else np.inf
                    if best is None or d < best[0]:
                        best = (d, frames, kp, size, seen)
                if best is None:
                    continue
                _, frames, kp, size, seen = best
                cells = []
                for m in PRICES:
                    n, wrong, px = group_decisions(kp, frames, consistent_sides(kp, seen, size, mixed=m), ref2)
                    cells.append(f"{wrong} of {n}, {px:.1f}")
                print(f"| {scene}/{video.stem} | {budget:g} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", help="pose2sim-0.10.49-py3-none-any.whl: also the 8 real-video views")
    ap.add_argument("--work", default="/tmp/occlupose-realvideo")
    ap.add_argument("--reference", action="store_true",
                    help="with --wheel: also check every price against the real-video benchmark's reference")
    args = ap.parse_args()
    if args.reference and not args.wheel:
        raise SystemExit("--reference needs --wheel")
    videos = [("street", HERE.parent / "examples" / "street.mp4")]
    if args.wheel:
        sys.path.insert(0, str(HERE))
        from realvideo import SCENES, extract

        for scene in ("multi", "single"):
            views, _ = extract(Path(args.wheel), Path(args.work), SCENES[scene])
            videos += [(f"{scene}/{v.stem}", v) for v in views]
    f = OcclusionFilterConfig()
    print("| clip | track | rule | frames relabelled | limb C* there, model's labels | relabelled | "
          "reliable (C* >= b), model's | relabelled |")
    print("|---|---|---|---|---|---|---|---|")
    for name, video in videos:
        rows = track_rows(video, RunConfig(), f.sigma, f.threshold)
        for tid, n, *per_rule in rows:
            for k, rule in enumerate(RULES):
                m, c0, c1, r0, r1 = per_rule[5 * k:5 * k + 5]
                print(f"| {name} | {tid} | {rule} | {m} of {n} | {c0:.3f} | {c1:.3f} | {r0:.0f} % | {r1:.0f} % |",
                      flush=True)
        if not rows:
            print(f"| {name} | – | – | none | | | | |", flush=True)
    if args.reference:
        reference_check(Path(args.wheel), Path(args.work))
    print("\nrerun: python benchmarks/sides.py" + (f" --wheel {args.wheel}" if args.wheel else "")
          + (" --reference" if args.reference else ""))


if __name__ == "__main__":
    main()
