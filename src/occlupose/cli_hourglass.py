"""``occlupose hourglass train | evaluate | export``: the paper's 2D network from the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .checkpoint import check_device
from .safeio import atomic_file, check_new_file


def _source(args, split: str, annotations: str | None = None):
    """The data a command works on: synthetic Cylinder Man renders of a mocap split, or COCO / MPII crops
    (``annotations``, default the --coco / --mpii file)."""
    from .keypoints2d import CropAugment, KeypointCrops, load_coco_keypoints, load_mpii_json

    if args.synthetic:
        from .data import load_mocap
        from .synthetic import SyntheticConfig, SyntheticCylinderMan

        return SyntheticCylinderMan.from_mocap(load_mocap(args.data), split, SyntheticConfig(size=args.input_size))
    ann = annotations or args.coco or args.mpii
    if not ann or not args.images:
        raise ValueError("give --synthetic, or --coco/--mpii ANNOTATIONS with --images FOLDER")
    samples = load_mpii_json(ann) if args.mpii else load_coco_keypoints(ann)
    return KeypointCrops(samples, args.images, args.input_size, CropAugment() if split == "train" else None)


def cmd_train(args) -> int:
    from .hourglass import HourglassConfig
    from .hourglass_train import HourglassTrainConfig, train_hourglass

    model = HourglassConfig(stacks=args.stacks, features=args.features, depth=args.depth,
                            input_size=args.input_size, sigma=args.sigma)
    cfg = HourglassTrainConfig(model=model, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                               lr_final=args.lr / 10, seed=args.seed, threads=args.threads)
    check_device(args.device)
    train_src = _source(args, "train")
    # held out: the test subjects' renders, or the --val annotations in the training format
    val_src = _source(args, "test", args.val) if args.synthetic or args.val else None
    meta = {"data": "synthetic Cylinder Man renders of the mocap training subjects" if args.synthetic
            else str(args.coco or args.mpii)}
    final = train_hourglass(cfg, train_src, args.output, val_src, args.device, progress=not args.quiet,
                            overwrite=args.overwrite, meta=meta)
    print(f"wrote {final}")
    val = Path(args.output) / "eval.json"
    if val.is_file():
        print(_format(json.loads(val.read_text())))
    return 0


def _format(r: dict) -> str:
    from .hourglass_train import PAPER_B

    return (f"peak error on visible joints: mean {r['peak_error_px_mean']:.2f} px, median "
            f"{r['peak_error_px_median']:.2f} px ({r['input_size']} px crops), PCK@5px {r['pck_5px']:.3f}\n"
            f"confidence: visible {r['confidence_visible_mean']:.3f}, occluded {r['confidence_occluded_mean']:.3f};"
            f" visible >= {PAPER_B:g}: {r['visible_above_threshold']:.3f}, occluded < {PAPER_B:g}: "
            f"{r['occluded_below_threshold']:.3f}, AUC {r['auc_visible_vs_occluded']:.3f}")


def cmd_evaluate(args) -> int:
    from .hourglass import load_hourglass
    from .hourglass_train import evaluate_hourglass

    fig = check_new_file(args.figure, args.overwrite, ".png") if args.figure else None
    out = check_new_file(args.json, args.overwrite) if args.json else None
    if args.count < 1:
        raise ValueError(f"--count must be >= 1, got {args.count}")
    model, _ = load_hourglass(args.weights, args.device)
    args.input_size = model.cfg.input_size
    src = _source(args, "test")
    r = evaluate_hourglass(model, src, images=args.count, device=args.device)
    print(_format(r))
    if fig is not None:
        with atomic_file(fig, args.overwrite) as tmp:
            _figure(model, src, tmp, args.device)
        print(f"wrote {fig}")
    if out is not None:
        with atomic_file(out, args.overwrite) as tmp:
            tmp.write_text(json.dumps(r, indent=1))
    return 0


def _figure(model, src, path: Path, device: str, n: int = 8, zoom: int = 3) -> None:
    """Held-out crops with the decoded peaks: filled green where C >= 0.3, red rings below (missing);
    the true position of every joint the labels call occluded as a small white cross."""
    import torch

    from .deps import require
    from .hourglass import decode_heatmaps, to_input_coords
    from .hourglass_train import PAPER_B

    cv2 = require("cv2", "drawing the figure")
    images, kp, state = src.batch(np.random.default_rng(7), n)
    with torch.no_grad():
        pts, conf = decode_heatmaps(model.heatmaps(torch.from_numpy(images).to(device)))
    pts = to_input_coords(pts, model.cfg.stride).cpu().numpy()
    conf = conf.cpu().numpy()
    tiles = []
    for i in range(n):
        img = cv2.resize((images[i].transpose(1, 2, 0) * 255).astype(np.uint8), None, fx=zoom, fy=zoom,
                         interpolation=cv2.INTER_NEAREST)
        img = np.ascontiguousarray(img)
        for (x, y), c in zip((pts[i] + 0.5) * zoom, conf[i]):
            centre = (int(round(x)), int(round(y)))
            if c >= PAPER_B:
                cv2.circle(img, centre, 3, (40, 230, 40), -1)
            else:
                cv2.circle(img, centre, 5, (230, 30, 30), 1)
        for (x, y) in (kp[i][state[i] == 1] + 0.5) * zoom:
            cv2.drawMarker(img, (int(round(x)), int(round(y))), (255, 255, 255), cv2.MARKER_CROSS, 6, 1)
        tiles.append(img)
    cols = 4
    rows = [np.concatenate(tiles[r * cols:(r + 1) * cols], 1) for r in range(n // cols)]
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))


def cmd_export(args) -> int:
    from .hourglass import export_onnx, load_hourglass

    out = check_new_file(args.output, args.overwrite, ".onnx")
    model, _ = load_hourglass(args.weights)
    with atomic_file(out, args.overwrite) as tmp:
        export_onnx(model, tmp)
    print(f"wrote {out} (input 'images' (B, 3, {model.cfg.input_size}, {model.cfg.input_size}) RGB in [0, 1])")
    return 0


def _data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data (one of)")
    g.add_argument("--synthetic", action="store_true",
                   help="Cylinder Man renders of the mocap (train: training subjects, test: test subjects)")
    g.add_argument("--coco", help="COCO-style person keypoints JSON")
    g.add_argument("--mpii", help="MPII-style JSON (image, center, scale, joints, joints_vis)")
    g.add_argument("--val", help="train: held-out annotations in the same format, scored at the end")
    g.add_argument("--images", help="folder the annotations' image paths are relative to")
    g.add_argument("--data", help="mocap .npz for --synthetic (default: the bundled CMU file)")


def add_parser(sub) -> None:
    hg = sub.add_parser("hourglass", help="the paper's stacked-hourglass 2D network: train, evaluate, export")
    hsub = hg.add_subparsers(dest="hourglass_command", required=True)

    t = hsub.add_parser("train", help="train on COCO/MPII-style data or synthetic Cylinder Man renders")
    _data_args(t)
    t.add_argument("-o", "--output", required=True, help="run folder (final.pt, log.csv, eval.json)")
    t.add_argument("--overwrite", action="store_true")
    t.add_argument("--stacks", type=int, default=8)
    t.add_argument("--features", type=int, default=256)
    t.add_argument("--depth", type=int, default=4, help="downsamplings per hourglass")
    t.add_argument("--input-size", type=int, default=256, help="crop side in pixels (heatmaps: a quarter)")
    t.add_argument("--sigma", type=float, default=2.0, help="target Gaussian sigma, heatmap pixels")
    t.add_argument("--steps", type=int, default=100_000)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=2.5e-4)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=0)
    t.add_argument("--device", default="cpu")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)

    e = hsub.add_parser("evaluate", help="peak error and occluded-vs-visible confidence on held-out data")
    e.add_argument("weights")
    _data_args(e)
    e.add_argument("--count", type=int, default=512, help="images to score")
    e.add_argument("--json", help="also write the numbers here")
    e.add_argument("--figure", help="also draw 8 held-out crops with their decoded peaks to this PNG")
    e.add_argument("--overwrite", action="store_true")
    e.add_argument("--device", default="cpu")
    e.set_defaults(func=cmd_evaluate)

    x = hsub.add_parser("export", help="write an ONNX model (dynamic batch) for deployment")
    x.add_argument("weights")
    x.add_argument("-o", "--output", required=True, help="the .onnx file")
    x.add_argument("--overwrite", action="store_true")
    x.set_defaults(func=cmd_export)
