"""The end-to-end mode (paper Eq. 9) on synthetic video: a hourglass trained on single synthetic frames and
the shipped lifter, fine-tuned together through the soft-argmax on labelled clips of the mocap training
subjects, scored from pixels to 3D on clips of the test subjects before and after.

    occlupose hourglass train --synthetic -o runs/hourglass_synthetic ...   (README: the synthetic demo)
    python benchmarks/end_to_end.py --hourglass runs/hourglass_synthetic/final.pt --steps 150
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from occlupose.data import load_mocap
from occlupose.hourglass import load_hourglass
from occlupose.hourglass_train import EndToEnd, evaluate_end_to_end, train_end_to_end
from occlupose.lifter import load_checkpoint
from occlupose.synthetic import SyntheticConfig, SyntheticCylinderMan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hourglass", required=True, help="hourglass checkpoint")
    ap.add_argument("--model", help="lifter checkpoint (default: the shipped model)")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--clips", type=int, default=2, help="clips per step")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--eval-clips", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    hg, _ = load_hourglass(args.hourglass)
    lifter = load_checkpoint(args.model).model
    net = EndToEnd(hg, lifter)
    mocap = load_mocap()
    syn = SyntheticConfig(size=hg.cfg.input_size)
    train_src = SyntheticCylinderMan.from_mocap(mocap, "train", syn)
    test_src = SyntheticCylinderMan.from_mocap(mocap, "test", syn)
    before = evaluate_end_to_end(net, test_src, args.eval_clips, args.frames)
    t0 = time.time()
    hist = train_end_to_end(net, train_src, args.steps, args.clips, args.frames, args.lr)
    seconds = time.time() - t0
    after = evaluate_end_to_end(net, test_src, args.eval_clips, args.frames)
    print(f"command: python benchmarks/end_to_end.py --hourglass {args.hourglass} --steps {args.steps} "
          f"--clips {args.clips} --frames {args.frames}")
    k = max(len(hist) // 10, 1)
    first = {t: np.mean([h[t] for h in hist[:k]]) for t in hist[0]}
    last = {t: np.mean([h[t] for h in hist[-k:]]) for t in hist[0]}
    print(f"loss (mean of first / last {k} steps): total {first['loss']:.3f} -> {last['loss']:.3f}, "
          f"heatmap {first['heatmap']:.3f} -> {last['heatmap']:.3f}, 3D {first['l3d']:.4f} -> {last['l3d']:.4f}")
    print(f"| held-out clips ({args.eval_clips} x {args.frames} frames, test subjects) | MPJPE mm | "
          "MPJPE occluded mm | 2D peak error px |")
    print("|---|---|---|---|")
    for name, r in (("separately trained", before), (f"after {args.steps} end-to-end steps", after)):
        print(f"| {name} | {r['mpjpe']:.1f} | {r['mpjpe_occluded']:.1f} | {r['peak_error_px']:.2f} |")
    print(f"{seconds:.0f} s of training on {torch.get_num_threads()} CPU threads")


if __name__ == "__main__":
    main()
