"""How far the 2D of hidden joints could be filled in from time: on the evaluator's detector-like inputs, the
synthetic detector's guess for each hidden joint against the straight line between the frames on either side
where the same joint was trusted, by the length of the gap.

Issue 13's goal for the occluded joints (35 % under the plain lifter) is what the same lifter scores when the
hidden joints' 2D is as good as the visible ones' (docs/results.md, "How much better 2D for the hidden joints
would buy"). A confidence flag cannot supply that 2D; the classical way to get some of it is to interpolate a
joint over the frames it is missing in (what the paper's 2D TCN is for). This measures how much of it that
can give, before any network: with the anchors an occlusion-aware front end has (the frames where C* >= b) and
with perfect anchors (the frames where the joint really is visible). Errors are in units of the person's
size (the median over frames of the mean distance of the joints from the pelvis in the true 2D), so
orthographic and pinhole views add up.

Rerun: python benchmarks/hidden_gaps.py [--split val|test] [--views 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ablation import VAL_SUBJECTS  # noqa: E402

from occlupose.data import load_mocap  # noqa: E402
from occlupose.evaluate import EVAL_AUGMENT, test_inputs  # noqa: E402
from occlupose.occlusion import OcclusionFilterConfig  # noqa: E402

#: gap lengths (frames at 50 fps) reported apart: [lo, hi)
GAPS = ((1, 5), (5, 15), (15, 50), (50, None))


def interpolate(kp: np.ndarray, anchor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """kp (T, J, 2), anchor (T, J) bool: each non-anchor frame's position on the line between the joint's anchors
    before and after it (held from the one there is at a clip's ends; the guess where the joint has none).
    Returns (positions (T, J, 2), the length of the run of non-anchor frames each frame is in (T, J); 0 on
    anchors)."""
    t = np.arange(kp.shape[0])[:, None]
    big = kp.shape[0]
    prev = np.maximum.accumulate(np.where(anchor, t, -1), axis=0)  # (T, J) last anchor at or before t
    nxt = np.minimum.accumulate(np.where(anchor, t, big)[::-1], axis=0)[::-1]  # first anchor at or after t
    has_prev, has_next = prev >= 0, nxt < big
    p, n = np.clip(prev, 0, big - 1), np.clip(nxt, 0, big - 1)
    at_p = np.take_along_axis(kp, p[..., None], axis=0)
    at_n = np.take_along_axis(kp, n[..., None], axis=0)
    w = np.where(has_prev & has_next, (t - prev) / np.maximum(nxt - prev, 1), np.where(has_next, 1.0, 0.0))
    line = at_p + w[..., None] * (at_n - at_p)
    out = np.where((anchor | ~(has_prev | has_next))[..., None], kp, line)
    gap = np.where(anchor, 0, np.where(has_next, nxt, big) - np.where(has_prev, prev, -1) - 1)
    return out, gap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["val", "test"], default="val",
                    help="val: the validation subjects S08, S13; test: the test subjects")
    ap.add_argument("--views", type=int, default=4)
    args = ap.parse_args()
    mocap = load_mocap()
    keys = mocap.keys("train", list(VAL_SUBJECTS)) if args.split == "val" else mocap.keys("test")
    b = OcclusionFilterConfig().threshold  # the evaluator's b
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("guess", "trusted", "oracle", "gap_t", "gap_o", "rel",
                                                          "visible")}
    for _, batch in test_inputs(mocap, keys, args.views, EVAL_AUGMENT):
        kp, gt, conf, hidden = batch.det_2d[0], batch.gt_2d[0], batch.conf[0], batch.occluded[0]
        size = np.median(np.linalg.norm(gt - gt[:, :1], axis=-1).mean(-1))
        trusted, gap_t = interpolate(kp, conf >= b)
        oracle, gap_o = interpolate(kp, ~hidden)
        err = {k: np.linalg.norm(v - gt, axis=-1) / size for k, v in
               (("guess", kp), ("trusted", trusted), ("oracle", oracle))}
        for k, v in err.items():
            rows[k].append(v[hidden])
        rows["gap_t"].append(gap_t[hidden])
        rows["gap_o"].append(gap_o[hidden])
        rows["rel"].append((conf >= b)[hidden])
        rows["visible"].append(err["guess"][~hidden])
    r = {k: np.concatenate(v) for k, v in rows.items()}
    print(f"command: python benchmarks/hidden_gaps.py --split {args.split} --views {args.views}")
    print(f"hidden joints: {r['guess'].size} ({100 * r['rel'].mean():.0f} % of them trusted, C* >= {b}); "
          f"visible joints' guess error {r['visible'].mean():.3f} (mean, person sizes)")
    print("| hidden joints | share | the detector's guess | the line between trusted frames (C* >= b) |")
    print("|---|---|---|---|")
    untrusted = ~r["rel"]
    for lo, hi in GAPS:
        m = untrusted & (r["gap_t"] >= lo) & ((r["gap_t"] < hi) if hi else True)
        print(f"| untrusted, in a gap of {lo}{f'-{hi - 1}' if hi else '+'} frames | {m.sum() / untrusted.sum():.2f} | "
              f"{r['guess'][m].mean():.3f} | {r['trusted'][m].mean():.3f} |")
    print(f"| all hidden joints | 1.00 | {r['guess'].mean():.3f} | {r['trusted'].mean():.3f} |")
    print()
    print("| hidden joints, by the true occlusion's length | share | the detector's guess | the line between "
          "truly visible frames |")
    print("|---|---|---|---|")
    for lo, hi in GAPS:
        m = (r["gap_o"] >= lo) & ((r["gap_o"] < hi) if hi else True)
        print(f"| occluded for {lo}{f'-{hi - 1}' if hi else '+'} frames | {m.mean():.2f} | {r['guess'][m].mean():.3f}"
              f" | {r['oracle'][m].mean():.3f} |")
    print(f"| all hidden joints | 1.00 | {r['guess'].mean():.3f} | {r['oracle'].mean():.3f} |")


if __name__ == "__main__":
    main()
