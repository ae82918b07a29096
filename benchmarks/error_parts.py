"""Where a lifter's remaining error is: its 3D with one part of the truth given back at a time (oracles, not
methods), beside two test-time corrections that need no truth, on the data a setting is chosen on.

Oracles (each on the lifter's 3D, root-aligned): every bone at its true length (directions kept); every bone at
the sequence's true median length; one scale per sequence; one rotation per sequence (about the root); one
rotation per frame. The gap each closes is what knowing that part would buy. Corrections: the camera's tilt
re-estimated per sequence (the lifter's mean pelvis-to-thorax direction, its forward lean scaled by ``--tilt``:
the lifter shrinks a camera's tilt toward level on the validation subjects), and in-plane roll averaging (the 2D
turned by +-``--roll`` degrees about its centre, lifted, turned back, averaged with the unturned lift). Body
size: each sequence's summed median bone lengths, true against the lifter's, per subject.

Rerun: python benchmarks/error_parts.py RUN [RUN ...] [--split val] [--views 4] [--grid] [--confidence-frames 5]
[--bones 0.5] [--tilt 1.1 1.15 1.2] [--roll 8]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from ablation import scoring_sets  # this folder is on the path: run as a script

from occlupose.camera import rot_x
from occlupose.data import load_mocap
from occlupose.deps import environment
from occlupose.evaluate import EVAL_AUGMENT, EVAL_SEED, test_inputs
from occlupose.lifter import combine, encode_in_view, load_checkpoint, test_time_options, turn_by_ray, with_test_time
from occlupose.metrics import mpjpe, p_mpjpe, root_relative, rotation_fit
from occlupose.skeleton import bone_lengths, scale_bones

THORAX = 8  # the Human3.6M joint the pelvis-to-thorax direction (the trunk's up) ends at


@torch.no_grad()
def lifted(model, data, keys, views: int, roll_deg: float) -> tuple[dict, dict, dict, dict]:
    """{clip#view: (T, 17, 3)} predictions, the roll-averaged ones (if ``roll_deg``), truths; {clip#view: (T, 17)}
    occluded joints."""
    preds, turned, gts, occ = {}, defaultdict(list), {}, {}
    for name, batch in test_inputs(data, keys, views, EVAL_AUGMENT, EVAL_SEED, model.cfg.encoding.filter):
        pinhole = np.isfinite(batch.root[:, 0, 0])
        enc, centre = encode_in_view(model.cfg, batch.det_2d, batch.conf, pinhole)
        x = enc.x

        def camera_frame(p: np.ndarray, centre=centre, pinhole=pinhole) -> np.ndarray:
            """A ray-frame model's 3D turned back by its ray."""
            return turn_by_ray(p, centre[0], pinhole[0], True) if model.cfg.ray_frame else p

        preds[name] = camera_frame(model.infer(torch.from_numpy(x))[0].numpy().astype(np.float64))
        for sign in (-1, 1) if roll_deg else ():
            a = np.radians(sign * roll_deg)
            r2 = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            xr = x.copy()
            xr[..., :2] = x[..., :2] @ r2.T.astype(np.float32)  # the 2D turned about its centre
            r3 = np.eye(3)
            r3[:2, :2] = r2
            turned[name].append(camera_frame(model.infer(torch.from_numpy(xr))[0].numpy() @ r3))  # turned back
        gts[name], occ[name] = batch.poses_3d[0].astype(np.float64), batch.occluded[0]
    return preds, {k: np.mean([preds[k], *v], 0) for k, v in turned.items()}, gts, occ


def one_rotation(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """p (T, 17, 3) turned about the root by the one rotation that best fits g (all frames together)."""
    p, g = root_relative(p), root_relative(g)
    r, _ = rotation_fit(p.reshape(1, -1, 3), g.reshape(1, -1, 3))
    return p @ r[0]


def frame_rotations(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    p, g = root_relative(p), root_relative(g)
    r, _ = rotation_fit(p, g)
    return p @ r


def one_scale(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    p, g = root_relative(p), root_relative(g)
    return p * (p * g).sum() / max((p * p).sum(), 1e-12)


def tilt_fixed(p: np.ndarray, k: float) -> np.ndarray:
    """The sequence's camera tilt (the trunk's mean lean toward the camera) scaled by k: every frame turned about
    the camera's x axis through the root."""
    up = (p[:, THORAX] - p[:, 0]).mean(0)
    lean = np.arctan2(up[2], -up[1])  # 0: the trunk upright in the image (y down, z away from the camera)
    r = rot_x(np.array(-(k - 1.0) * lean))
    p = root_relative(p)
    return p @ r.T


def report(preds: dict, rolled: dict, gts: dict, occ: dict, tilts: list[float], roll: float) -> None:
    """The oracle and correction rows, then body sizes per subject, for one evaluation set."""
    names = list(gts)
    g_all = np.concatenate([gts[n] for n in names])
    o_all = np.concatenate([occ[n] for n in names])
    print("| the lifter's 3D with | MPJPE | P-MPJPE | MPJPE occluded |\n|---|---|---|---|")

    def row(label: str, fix) -> None:
        p_all = np.concatenate([fix(preds[n], gts[n], n) for n in names])
        print(f"| {label} | {mpjpe(p_all, g_all) * 1000:.1f} | {p_mpjpe(p_all, g_all) * 1000:.1f} | "
              f"{mpjpe(p_all, g_all, o_all) * 1000:.1f} |", flush=True)

    def lengths_set(p: np.ndarray, target: np.ndarray) -> np.ndarray:
        return scale_bones(p, target / np.maximum(bone_lengths(p), 1e-9))

    row("nothing given back", lambda p, g, n: p)
    row("oracle: true bone lengths, every frame", lambda p, g, n: lengths_set(p, bone_lengths(g)))
    row("oracle: true median bone lengths per sequence", lambda p, g, n: lengths_set(p, np.median(bone_lengths(g), 0)))
    row("oracle: one scale per sequence", lambda p, g, n: one_scale(p, g))
    row("oracle: one rotation per sequence", lambda p, g, n: one_rotation(p, g))
    row("oracle: one rotation per frame", lambda p, g, n: frame_rotations(p, g))
    for k in tilts:
        row(f"correction: camera tilt scaled by {k:g}", lambda p, g, n, k=k: tilt_fixed(p, k))
    if roll:
        row(f"correction: roll averaging, +-{roll:g} degrees", lambda p, g, n: rolled[n])
    size = defaultdict(list)  # subject -> [(true, lifted)] summed median bone lengths, per clip-view
    for n in names:
        size[n.split("/")[0]].append((np.median(bone_lengths(gts[n]), 0).sum(),
                                      np.median(bone_lengths(preds[n]), 0).sum()))
    print("\n| subject | clip-views | true body (summed bone lengths, m) | lifted | lifted / true |")
    print("|---|---|---|---|---|")
    for s, v in sorted(size.items()):
        t, p = np.mean(v, 0)
        print(f"| {s} | {len(v)} | {t:.3f} | {p:.3f} | {p / t:.3f} |")
    both = np.array([x for v in size.values() for x in v])
    print(f"\ncorrelation of true and lifted body size over clip-views: {np.corrcoef(both.T)[0, 1]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders (their final.pt) or checkpoints of one recipe: averaged")
    ap.add_argument("--split", choices=["val", "test"], default="val")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--confidence-frames", type=int)
    ap.add_argument("--bones", type=float, metavar="SHARE")
    ap.add_argument("--tilt", type=float, nargs="*", default=[1.1, 1.15, 1.2], help="tilt scale factors to try")
    ap.add_argument("--roll", type=float, default=8.0, help="roll averaging angle, degrees (0: not tried)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    loaded = [load_checkpoint(Path(r) / "final.pt" if Path(r).is_dir() else r) for r in args.runs]
    for m in loaded:
        m.model.cfg = with_test_time(m.model.cfg, grid=args.grid, confidence_frames=args.confidence_frames,
                                     bones=args.bones)
    model = combine([m.model for m in loaded]) if len(loaded) > 1 else loaded[0].model
    model.eval()
    cfg = loaded[0].config
    mocap = load_mocap(cfg.data)
    where = scoring_sets([m.config for m in loaded], mocap, args.split)
    print(f"environment: {environment()}\nlifter: {' + '.join(args.runs)}")
    for title, (data, keys) in where.items():
        preds, rolled, gts, occ = lifted(model, data, keys, args.views, args.roll)
        print(f"\n## {title} ({args.views} views; detector-like 2D; {len(gts)} clip-views)\n")
        report(preds, rolled, gts, occ, args.tilt, args.roll)
    extra = test_time_options(False, args.grid, args.confidence_frames, args.bones)
    print(f"\nrerun: python benchmarks/error_parts.py {' '.join(args.runs)} --split {args.split} --views {args.views}"
          f"{extra} --tilt {' '.join(f'{k:g}' for k in args.tilt)} --roll {args.roll:g}")


if __name__ == "__main__":
    main()
