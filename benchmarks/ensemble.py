"""Lifters of one recipe trained apart (other seeds), alone and averaged (``ModelConfig.ensemble``,
``occlupose.lifter.combine``): what averaging their 3D buys, on the evaluator's fixed inputs.

``--split val``: runs trained without the validation subjects (``benchmarks/ablation.py --split val``), scored
on S08/S13 and on the held-out bodies none of them trained on (HDM05's actors, CMU S35); ``--split test``: runs
trained on every training subject, scored on the test subjects (once, at the end); ``--split bodies``: such runs
(fine-tunings of the shipped pair, say) scored on the held-out bodies alone, to choose among them without
the test subjects. A packaged model's name (``default``) or one ensemble checkpoint is scored as it is.
``--flip``, ``--grid`` and
``--confidence-frames`` add the test-time settings ``tools/ship_model.py`` packages.

Rerun: python benchmarks/ensemble.py RUN RUN [...] --split val|test|bodies [--views 4] [--flip] [--grid]
[--confidence-frames 5] [--bones 0.5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from ablation import HELDOUT_BODIES, VAL_SUBJECTS, heldout_bodies  # this folder is on the path: run as a script

from occlupose.data import load_mocap
from occlupose.deps import environment
from occlupose.evaluate import evaluate_model
from occlupose.lifter import combine, load_checkpoint, test_time_options, with_test_time

COLUMNS = ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "mpjpe_masked", "p_mpjpe_masked")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders (their final.pt) or checkpoints of one recipe")
    ap.add_argument("--split", choices=["val", "test", "bodies"], required=True,
                    help="val: S08/S13 and the held-out bodies; test: the test subjects; bodies: the held-out "
                         "bodies alone (for runs trained on every training subject)")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--flip", action="store_true", help="test-time flip averaging, for a recipe without it "
                                                        "(ModelConfig.flip_test; the shipped recipe has it)")
    ap.add_argument("--grid", action="store_true", help="test-time stride-grid averaging (ModelConfig.shift_test)")
    ap.add_argument("--confidence-frames", type=int, help="C* averaged over this many frames")
    ap.add_argument("--bones", type=float, metavar="SHARE",
                    help="bone lengths pulled this share toward each sequence's median (ModelConfig.bone_test)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = [Path(r) / "final.pt" if Path(r).is_dir() else Path(r) for r in args.runs]  # or a packaged name
    loaded = [load_checkpoint(p) for p in paths]
    if len(loaded) < 2 and loaded[0].config.model.ensemble < 2:
        ap.error("give at least two runs to average, or one ensemble (a packaged model)")
    for m in loaded:
        m.model.cfg = with_test_time(m.model.cfg, args.flip, args.grid, args.confidence_frames, args.bones)
    systems = [(str(r), m.model) for r, m in zip(args.runs, loaded)]
    if len(loaded) > 1:
        systems.append((f"the {len(loaded)} averaged", combine([m.model for m in loaded])))
    cfg = loaded[0].config
    mocap = load_mocap(cfg.data)
    where = {"test subjects": (mocap, None)}
    if args.split in ("val", "bodies"):
        where = {} if args.split == "bodies" else {
            "validation subjects " + ", ".join(VAL_SUBJECTS): (mocap, mocap.keys("train", list(VAL_SUBJECTS)))}
        trained_on = set().union(*(m.config.extra_data for m in loaded))
        where.update({f"held-out bodies: {name}": heldout_bodies(name) for name in HELDOUT_BODIES
                      if name not in trained_on})
    print(f"environment: {environment()}")
    for title, (data, keys) in where.items():
        print(f"\n## {title} ({args.views} views; detector-like 2D)\n")
        print("| lifter | MPJPE | P-MPJPE | N-MPJPE | MPJVE | MPJPE occluded | P-MPJPE occluded | seconds |")
        print("|---|---|---|---|---|---|---|---|")
        alone = []
        for name, model in systems:
            t = time.perf_counter()
            row = evaluate_model(model, data, views=args.views, keys=keys)["ALL"]
            seconds = time.perf_counter() - t
            if model.cfg.ensemble == 1:
                alone.append(row)
            elif alone:
                mean = {c: sum(r[c] for r in alone) / len(alone) for c in COLUMNS}
                print("| mean of the lifters alone | " + " | ".join(f"{mean[c]:.1f}" for c in COLUMNS) + " | |")
            print(f"| {name} | " + " | ".join(f"{row[c]:.1f}" for c in COLUMNS) + f" | {seconds:.0f} |", flush=True)
    extra = test_time_options(args.flip, args.grid, args.confidence_frames, args.bones)
    print(f"\nrerun: python benchmarks/ensemble.py {' '.join(args.runs)} --split {args.split} --views {args.views}"
          f"{extra}")


if __name__ == "__main__":
    main()
