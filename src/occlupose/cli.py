"""The ``occlupose`` command line. Bad input ends with one clear line and a non-zero exit, not a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .cli_hourglass import add_parser as add_hourglass_parser


def _check_output(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    if not path.parent.exists():
        raise FileNotFoundError(f"{path.parent}: output folder does not exist")


def cmd_train(args) -> int:
    from dataclasses import replace

    from .config import TrainConfig, load_config
    from .train import train

    cfg = load_config(args.config) if args.config else TrainConfig()
    if args.steps is not None:
        cfg = replace(cfg, steps=args.steps)
    if args.data is not None:
        cfg = replace(cfg, data=args.data)
    final = train(cfg, args.output, resume=args.resume, device=args.device, overwrite=args.overwrite,
                  progress=not args.quiet)
    print(f"final checkpoint: {final}")
    return 0


def cmd_evaluate(args) -> int:
    from .data import load_h36m_3d, load_mocap, mocap_from_h36m
    from .evaluate import evaluate_model, format_table
    from .lifter import load_checkpoint

    loaded = load_checkpoint(None if args.checkpoint == "default" else args.checkpoint, args.device)
    if args.h36m:
        path = Path(args.h36m)
        path = path / "data_3d_h36m.npz" if path.is_dir() else path
        mocap = mocap_from_h36m(load_h36m_3d(path), str(path))
    else:
        mocap = load_mocap(args.data if args.data is not None else loaded.config.data)
    views = args.views or loaded.config.eval_views
    results = {}
    for mode in (["clean"] if args.clean else ["detector", "clean"]):
        rows = evaluate_model(loaded.model, mocap, views=views, clean=mode == "clean",
                              device=args.device)
        results[mode] = rows
        print(f"\n## {loaded.name}: test subjects {', '.join(mocap.subjects('test'))}, {mode} 2D, "
              f"{views} views per clip (mm)\n")
        print(format_table(rows, per_clip=args.per_clip))
    if args.json:
        out = Path(args.json)
        _check_output(out, args.overwrite)
        out.write_text(json.dumps(results, indent=1))
    return 0


def cmd_lift(args) -> int:
    from .data import load_input_2d
    from .lifter import lift, load_checkpoint
    from .occlusion import OcclusionFilterConfig

    inputs = [Path(p) for p in args.inputs]
    out = Path(args.output)
    if len(inputs) > 1:
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out}: with several inputs, -o must be a folder")
        out.mkdir(parents=True, exist_ok=True)
        targets = [out / p.name for p in inputs]
        if len({t.name for t in targets}) != len(targets):
            raise ValueError("several inputs share a file name; their outputs would collide")
    else:
        targets = [out / inputs[0].name if out.is_dir() else out]
    for t in targets:
        _check_output(t, args.overwrite)
        if args.render:
            _check_output(t.with_suffix(".png"), args.overwrite)
        if args.bvh:
            _check_output(t.with_suffix(".bvh"), args.overwrite)
    data = [load_input_2d(p) for p in inputs]  # validate every input before any work
    loaded = load_checkpoint(args.model, args.device)
    threshold = args.threshold if args.threshold is not None else OcclusionFilterConfig().threshold
    for src, d, dst in zip(inputs, data, targets):
        reliable = d.scores >= threshold
        poses = lift(loaded.model, d.keypoints, reliable, d.fps, args.device)
        np.savez_compressed(dst, poses_3d=poses, reliable=reliable, keypoints_2d=d.keypoints, scores=d.scores,
                            fps=d.fps, model=loaded.name)
        print(f"{src} -> {dst}: {len(poses)} frames, {100 * (1 - reliable.mean()):.1f}% keypoints missing")
        if args.bvh:
            from .bvh import write_bvh

            write_bvh(dst.with_suffix(".bvh"), poses, d.fps)
            print(f"animation: {dst.with_suffix('.bvh')}")
        if args.render:
            from .render import lift_strip_png

            png = dst.with_suffix(".png")
            lift_strip_png(d.keypoints, reliable, poses, str(png), gt_3d=d.extra.get("gt_poses_3d"))
            print(f"picture: {png}")
    return 0


def cmd_run(args) -> int:
    from .lifter import load_checkpoint
    from .occlusion import OcclusionFilterConfig
    from .outputs import OUTPUT_FILES, write_tracks
    from .pipeline import RunConfig, run_video

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    if out.is_dir() and not args.overwrite:
        existing = [out / f for f in (*OUTPUT_FILES, "render.mp4") if (out / f).exists()]
        existing += sorted(out.glob("track*.bvh"))
        if existing:
            raise FileExistsError(f"{existing[0]} exists; pass --overwrite to replace the results in {out}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"{out}: cannot create the output folder ({exc.strerror})") from exc
    if not os.access(out, os.W_OK):
        raise PermissionError(f"{out}: the output folder is not writable")
    cfg = RunConfig(detector=args.detector, backend=args.backend, weights=args.weights, detect_every=args.detect_every,
                    max_people=args.max_people, start=args.start, end=args.end, device=args.device,
                    threads=args.threads,
                    occlusion=OcclusionFilterConfig(sigma=args.sigma, threshold=args.threshold))
    if cfg.detect_every < 1:
        raise ValueError("--detect-every must be >= 1")
    if args.max_people < 0:
        raise ValueError("--max-people must be >= 0")
    if not (args.sigma > 0 and 0 <= args.threshold <= 1):
        raise ValueError("need --sigma > 0 and 0 <= --threshold <= 1")
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    loaded = load_checkpoint(args.model, args.device)
    result = run_video(args.video, loaded.model, cfg, progress=not args.quiet)
    info = result.video
    if not result.tracks:
        print(f"occlupose: no person found in {args.video} (frames {result.frame_range[0]}-"
              f"{result.frame_range[1] - 1}); nothing written", file=sys.stderr)
        return 3
    paths = write_tracks(out, result.tracks, info.fps, overwrite=args.overwrite)
    if not args.no_render:
        import time

        from .render import render_run

        t0 = time.perf_counter()
        render_run(args.video, result, out / "render.mp4", progress=not args.quiet)
        result.seconds["render"] = time.perf_counter() - t0
        paths.append(out / "render.mp4")
    fps = result.stage_fps()
    front = result.front_end_seconds()
    print(f"{args.video}: {result.frames} frames ({info.width}x{info.height}, {info.fps:g} fps), "
          f"{len(result.tracks)} people, model {loaded.name}")
    for t in result.tracks:
        missing = 100 * (1 - t.reliable.mean())
        print(f"  person {t.track_id}: frames {int(t.frames[0])}-{int(t.frames[-1])}, {missing:.0f}% joints missing")
    print("  frames/s: " + ", ".join(f"{k} {fps[k]:.1f}" for k in result.seconds)
          + f"; detection+2D+flow+tracking+lifting {result.frames / max(front, 1e-9):.1f}")
    print(f"wrote {len(paths)} files to {out}: " + ", ".join(p.name for p in paths))
    return 0


def cmd_cylinder_demo(args) -> int:
    from .camera import studio_rotations
    from .data import load_mocap
    from .render import cylinder_views_png

    out = Path(args.output)
    _check_output(out, args.overwrite)
    mocap = load_mocap(args.data)
    if args.clip not in mocap.clips:
        raise ValueError(f"no clip {args.clip!r} in {mocap.path}")
    clip = mocap.clips[args.clip]
    if not 0 <= args.frame < len(clip):
        raise ValueError(f"frame {args.frame} out of range: {args.clip} has {len(clip)} frames")
    pose = clip[args.frame].astype(np.float64)
    # face the subject (azimuth 0 = its front: hips along image x), from a camera looking 18 degrees down
    hips = pose[4] - pose[1]
    base = -np.arctan2(hips[1], hips[0])
    azimuths = [0, 45, 90, 180, 270]
    rots = studio_rotations(base + np.radians(azimuths), 0.1 * np.pi)
    titles = [f"azimuth {a} deg" for a in azimuths]
    vis = cylinder_views_png(pose, rots, str(out), titles)
    print(f"wrote {out}: {args.clip} frame {args.frame}, occluded joints per view {(~vis).sum(1).tolist()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="occlupose", description=__doc__ and "Occlusion-aware 3D human pose estimation")
    p.add_argument("--version", action="version", version=f"occlupose {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train the 2D/3D TCNs on mocap with the paper's losses")
    t.add_argument("--config", help="YAML or TOML config (default: the paper's values)")
    t.add_argument("-o", "--output", required=True, help="run folder (checkpoints, log.csv, config.yaml)")
    t.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    t.add_argument("--overwrite", action="store_true", help="start again in a non-empty run folder")
    t.add_argument("--steps", type=int, help="override the number of steps")
    t.add_argument("--data", help="mocap .npz (default ../shared/data or $OCCLUPOSE_DATA)")
    t.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="MPJPE / P-MPJPE on the test subjects, overall and on occluded joints")
    e.add_argument("checkpoint", help="checkpoint file, or 'default' for the shipped model")
    e.add_argument("--views", type=int, help="virtual views per test clip (default: the model's config)")
    e.add_argument("--clean", action="store_true", help="only the clean-2D evaluation")
    e.add_argument("--data", help="mocap .npz")
    e.add_argument("--h36m", help="folder or data_3d_h36m.npz in the VideoPose3D layout (tests on S9, S11)")
    e.add_argument("--per-clip", action="store_true", help="one row per clip and view")
    e.add_argument("--json", help="also write the numbers to this JSON file")
    e.add_argument("--overwrite", action="store_true")
    e.add_argument("--device", default="cpu")
    e.set_defaults(func=cmd_evaluate)

    li = sub.add_parser("lift", help="lift 2D keypoint files (.npz, README's 2D input layout) to 3D")
    li.add_argument("inputs", nargs="+", help="input .npz file(s)")
    li.add_argument("-o", "--output", required=True, help="output .npz, or a folder for several inputs")
    li.add_argument("--model", help="checkpoint (default: the shipped model)")
    li.add_argument("--threshold", type=float, help="confidence below which a keypoint is missing (0.3)")
    li.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    li.add_argument("--render", action="store_true", help="also draw 2D input and 3D result to OUTPUT.png")
    li.add_argument("--bvh", action="store_true", help="also write OUTPUT.bvh (Y-up, cm) for animation tools")
    li.add_argument("--device", default="cpu")
    li.set_defaults(func=cmd_lift)

    r = sub.add_parser("run", help="video -> every person's 3D poses (npz, JSON, CSV, BVH) and render.mp4")
    r.add_argument("video", help="a video file (mp4, avi, mov, mkv, webm ...)")
    r.add_argument("-o", "--output", required=True, help="output folder")
    r.add_argument("--overwrite", action="store_true", help="replace earlier results in the output folder")
    r.add_argument("--no-render", action="store_true", help="do not draw render.mp4")
    r.add_argument("--model", help="lifter checkpoint (default: the shipped model)")
    r.add_argument("--backend", default="blazepose", choices=["blazepose", "hourglass"],
                   help="2D keypoint backend (hourglass: the paper's network, needs --weights)")
    r.add_argument("--weights", help="hourglass checkpoint (occlupose hourglass train)")
    r.add_argument("--detector", default="hog+blazepose", choices=["hog+blazepose", "hog", "blazepose"],
                   help="person detector(s)")
    r.add_argument("--detect-every", type=int, default=10,
                   help="run the person detector every N frames; people are followed in between (10)")
    r.add_argument("--max-people", type=int, default=0, help="follow at most N people at once (0: all)")
    r.add_argument("--start", type=float, default=0.0, help="first second of the video to process")
    r.add_argument("--end", type=float, help="last second of the video to process")
    r.add_argument("--threshold", type=float, default=0.3, help="Eq. 2 confidence below which a joint is missing")
    r.add_argument("--sigma", type=float, default=0.1, help="Eq. 2 sigma, in units of the person's box size")
    r.add_argument("--device", default="cpu", help="device for the lifter (cpu, cuda)")
    r.add_argument("--threads", type=int, default=2, help="CPU threads per stage")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_run)

    add_hourglass_parser(sub)

    c = sub.add_parser("cylinder-demo", help="draw a mocap pose's Cylinder Man from several virtual views")
    c.add_argument("-o", "--output", default="cylinder_demo.png")
    c.add_argument("--clip", default="S06/06_01")
    c.add_argument("--frame", type=int, default=100)
    c.add_argument("--data", help="mocap .npz")
    c.add_argument("--overwrite", action="store_true")
    c.set_defaults(func=cmd_cylinder_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, FileExistsError, ValueError, IsADirectoryError, PermissionError) as exc:
        print(f"occlupose: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("occlupose: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
