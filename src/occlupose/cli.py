"""The ``occlupose`` command line. Bad input ends with one clear line and a non-zero exit, not a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import __version__
from .cli_hourglass import add_parser as add_hourglass_parser
from .cli_live import add_parser as add_live_parser
from .cli_live import add_shared_options, add_view_parser, shared_options
from .safeio import OutputFolder, atomic_file, check_new_file, output_path

#: what ``occlupose run`` writes in its output folder (an earlier run's are replaced only with --overwrite)
RUN_FILES = r"poses3d\.(npz|json|csv)|render\.mp4|track\d+\.bvh|viewer\.html"


def cmd_train(args) -> int:
    from dataclasses import replace

    from .config import TrainConfig, load_config
    from .train import train

    cfg = load_config(args.config) if args.config else TrainConfig()
    if args.steps is not None:
        cfg = replace(cfg, steps=args.steps)
    if args.data is not None:
        cfg = replace(cfg, data=args.data)
    if args.init is not None:
        cfg = replace(cfg, init=args.init)
    final = train(cfg, args.output, resume=args.resume, device=args.device, overwrite=args.overwrite,
                  progress=not args.quiet)
    print(f"final checkpoint: {final}")
    return 0


def cmd_evaluate(args) -> int:
    from .data import load_h36m_3d, load_mocap, mocap_from_h36m
    from .evaluate import evaluate_model, format_table
    from .lifter import load_checkpoint, with_test_time

    out = check_new_file(args.json, args.overwrite) if args.json else None
    if args.views is not None and args.views < 1:
        raise ValueError(f"--views must be >= 1, got {args.views}")
    loaded = load_checkpoint(None if args.checkpoint == "default" else args.checkpoint, args.device)
    if args.h36m:
        path = Path(args.h36m)
        path = path / "data_3d_h36m.npz" if path.is_dir() else path
        mocap = mocap_from_h36m(load_h36m_3d(path, allow_pickle=args.allow_pickle), str(path))
    else:
        mocap = load_mocap(args.data if args.data is not None else loaded.config.data)
    views = args.views or loaded.config.eval_views
    if args.no_flip:
        loaded.model.cfg = replace(loaded.model.cfg, flip_test=False)
    loaded.model.cfg = with_test_time(loaded.model.cfg, flip=args.flip, grid=args.grid, bones=args.bones)
    results = {}
    for mode in (["clean"] if args.clean else ["detector", "clean"]):
        rows = evaluate_model(loaded.model, mocap, views=views, clean=mode == "clean",
                              device=args.device)
        results[mode] = rows
        print(f"\n## {loaded.name}: test subjects {', '.join(mocap.subjects('test'))}, {mode} 2D, "
              f"{views} views per clip (mm)\n")
        print(format_table(rows, per_clip=args.per_clip))
    if out is not None:
        with atomic_file(out, args.overwrite) as tmp:
            tmp.write_text(json.dumps(results, indent=1))
    return 0


def cmd_lift(args) -> int:
    from .data import load_input_2d
    from .lifter import lift, load_checkpoint, usable_keypoints
    from .occlusion import OcclusionFilterConfig

    inputs = [Path(p) for p in args.inputs]
    out = output_path(args.output)
    several = len(inputs) > 1 or out.is_dir()
    if several:
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"{out}: with several inputs, -o must be a folder")
        targets = [output_path(out / p.name, ".npz") for p in inputs]
        if len({t.name for t in targets}) != len(targets):
            raise ValueError("several inputs share a file name; their outputs would collide")
    else:
        targets = [output_path(out, ".npz")]
    for t in targets:
        check_new_file(t, args.overwrite, new_folder=several)
        for wanted, suffix in ((args.render, ".png"), (args.bvh, ".bvh")):
            if wanted:
                check_new_file(t.with_suffix(suffix), args.overwrite, new_folder=several)
    if args.threshold is not None:  # the filter's config checks the range (0 <= b <= 1, finite)
        OcclusionFilterConfig(threshold=args.threshold)
    from .keypoint_json import load_keypoint_json
    from .trajectory import intrinsics_for

    intrinsics_for(100, 100, args.focal, args.fov)  # checks them before any work

    # validate every input before any work
    data = [load_keypoint_json(p, args.fps, args.track) if p.suffix.lower() == ".json" else load_input_2d(p)
            for p in inputs]
    loaded = load_checkpoint(args.model, args.device)
    # b: the model's own (its checkpoint records the encoding it was trained with) unless --threshold
    threshold = loaded.model.cfg.encoding.threshold if args.threshold is None else args.threshold
    for src, d in zip(inputs, data):
        try:
            usable_keypoints(d.keypoints, d.scores >= threshold)
        except ValueError as exc:
            raise ValueError(f"{src}: {exc}") from None
    if several:
        out.mkdir(parents=True, exist_ok=True)
    for src, d, dst in zip(inputs, data, targets):
        reliable = d.scores >= threshold
        camera = None
        if loaded.model.cfg.ray_frame:  # the 3D is turned by the person's viewing ray: the camera matters
            if d.extra.get("size_guessed"):
                print(f"{src}: the file gives no image size, so no image centre: the 3D is as if the person "
                      "were straight ahead of the camera (add 'width' and 'height' to the file)")
            else:
                from_file = args.focal is None and args.fov is None and "focal" in d.extra
                cam, said = intrinsics_for(d.width, d.height, d.extra["focal"] if from_file else args.focal, args.fov)
                camera = (cam.focal, cam.cx, cam.cy)
                print(f"{src}: camera: {f'focal length {cam.focal:g} px (from the file)' if from_file else said}")
        poses = lift(loaded.model, d.keypoints, d.scores, d.fps, args.device, threshold=threshold, camera=camera)
        with atomic_file(dst, args.overwrite) as tmp:
            np.savez_compressed(tmp, poses_3d=poses, reliable=reliable, keypoints_2d=d.keypoints, scores=d.scores,
                                fps=d.fps, model=loaded.name)
        picked = f", track {d.extra['track']} of {d.extra['tracks']}" if "track" in d.extra else ""
        print(f"{src} -> {dst}: {len(poses)} frames{picked}, {100 * (1 - reliable.mean()):.1f}% keypoints missing")
        if args.bvh:
            from .bvh import write_bvh

            with atomic_file(dst.with_suffix(".bvh"), args.overwrite) as tmp:
                write_bvh(tmp, poses, d.fps)
            print(f"animation: {dst.with_suffix('.bvh')}")
        if args.render:
            from .render import lift_strip_png

            with atomic_file(dst.with_suffix(".png"), args.overwrite) as tmp:
                lift_strip_png(d.keypoints, reliable, poses, str(tmp), gt_3d=d.extra.get("gt_poses_3d"))
            print(f"picture: {dst.with_suffix('.png')}")
    return 0


def cmd_export_lifter(args) -> int:
    from .lifter import load_checkpoint
    from .lifter_export import contract, export_lifter_onnx

    out = check_new_file(args.output, args.overwrite, ".onnx")
    side = check_new_file(out.with_suffix(".json"), args.overwrite)
    loaded = load_checkpoint(args.model)
    with atomic_file(out, args.overwrite) as tmp:
        export_lifter_onnx(loaded.model, tmp)
    terms = contract(loaded)
    with atomic_file(side, args.overwrite) as tmp:
        tmp.write_text(json.dumps(terms, indent=1))
    print(f"wrote {out} (input 'x' (batch, frames, 17, 3) at {terms['fps']:g} fps, output 'poses' in metres) "
          f"and its input contract {side}")
    return 0


#: ``run`` options that belong to the batch, not to each video's run
_BATCH_ONLY = {"help", "video", "output", "overwrite", "quiet", "jobs"}


def _single_run_argv(parser: argparse.ArgumentParser, args) -> list[str]:
    """The options given to a batch, as each video's ``occlupose run`` takes them."""
    argv = []
    for a in parser._actions:
        if not a.option_strings or a.dest in _BATCH_ONLY:
            continue
        v = getattr(args, a.dest)
        if isinstance(a, argparse._StoreTrueAction):
            argv += [a.option_strings[-1]] if v else []
        elif v is not None and v != a.default:
            argv += [a.option_strings[-1], str(v)]
    return argv


def cmd_run(args) -> int:
    from .batch import run_batch

    videos = args.video
    if len(videos) > 1 or Path(videos[0]).is_dir() or any(c in videos[0] for c in "*?["):
        return run_batch(videos, args.output, _single_run_argv(args.parser, args), args.jobs, args.overwrite)
    if args.jobs != 1:
        raise ValueError("--jobs is for several videos (a folder, a glob or a list)")
    args.video = videos[0]
    return _run_single(args)


def _run_single(args) -> int:
    from .lifter import load_checkpoint
    from .occlusion import OcclusionFilterConfig
    from .outputs import write_tracks
    from .pipeline import RunConfig, run_video
    from .tracking import StitchConfig

    folder = OutputFolder(args.output, RUN_FILES, args.overwrite)  # checked now, written at the end
    out = folder.path
    from .trajectory import TrajectoryConfig

    over_time = "one_euro" if args.causal else "one_euro_fb"  # live use may not look ahead
    cfg = RunConfig(detector=args.detector, backend=args.backend, weights=args.weights, detect_every=args.detect_every,
                    max_people=args.max_people, start=args.start, end=args.end, device=args.device,
                    search_after_loss=args.search_after_loss,
                    sides="off" if args.keep_sides else "causal" if args.causal else "track",
                    threads=args.threads, smoothing=args.smoothing or over_time, detect_size=args.detect_size,
                    detect_tiles=args.detect_tiles, stitch=StitchConfig(clothes=not args.no_clothes),
                    focal=args.focal, fov=args.fov, trajectory=TrajectoryConfig(smoothing=over_time),
                    **shared_options(args))
    given = {k: v for k, v in (("sigma", args.sigma), ("threshold", args.threshold)) if v is not None}
    if given:  # checked before any work; the rest comes from the model's checkpoint below
        OcclusionFilterConfig(**given)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    loaded = load_checkpoint(args.model or ("causal" if args.causal else None), args.device)
    if args.causal and not (loaded.model.cfg.tcn.causal and loaded.model.cfg.encoding.causal):
        raise ValueError(f"{args.model}: --causal needs a causal lifter (model.tcn.causal and "
                         "model.encoding.causal in its config)")
    if given:
        cfg = replace(cfg, occlusion=replace(loaded.model.cfg.encoding.filter, **given))
    result = run_video(args.video, loaded.model, cfg, progress=not args.quiet)
    info = result.video
    for warning in result.warnings:
        print(f"occlupose: warning: {warning}", file=sys.stderr)
    if not result.tracks:
        print(f"occlupose: {result.no_person_reason()}; nothing written", file=sys.stderr)
        return 3
    with folder as staging:
        cam = result.camera and result.camera.record(result.camera_note)
        src = {"video": str(Path(args.video).resolve()), "width": info.width, "height": info.height}
        names = [p.name for p in write_tracks(staging, result.tracks, result.fps, camera=cam, source=src)]
        if not args.no_render:
            import time

            from .render import render_run

            t0 = time.perf_counter()
            render_run(args.video, result, staging / "render.mp4", progress=not args.quiet)
            result.seconds["render"] = time.perf_counter() - t0
            names.append("render.mp4")
    paths = [out / n for n in names]
    fps = result.stage_fps()
    front = result.front_end_seconds()
    print(f"{args.video}: {result.frames} frames ({info.width}x{info.height}, {result.fps:.3g} fps), "
          f"{len(result.tracks)} people, model {loaded.name}")
    for t in result.tracks:
        missing = 100 * (1 - t.reliable.mean())
        print(f"  person {t.track_id}: frames {int(t.frames[0])}-{int(t.frames[-1])}, {missing:.0f}% joints missing")
    print(f"  placed with a {result.camera_note}")
    print("  frames/s: " + ", ".join(f"{k} {fps[k]:.1f}" for k in result.seconds)
          + f"; detection+2D+flow+tracking+lifting {result.frames / max(front, 1e-9):.1f}")
    print(f"wrote {len(paths)} files to {out}: " + ", ".join(p.name for p in paths))
    return 0


def cmd_cylinder_demo(args) -> int:
    from .camera import studio_rotations
    from .data import load_mocap
    from .render import cylinder_views_png

    out = check_new_file(args.output, args.overwrite, ".png")
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
    with atomic_file(out, args.overwrite) as tmp:
        vis = cylinder_views_png(pose, rots, str(tmp), titles)
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
    t.add_argument("--data", help="mocap .npz (default: $OCCLUPOSE_DATA, else the bundled CMU file)")
    t.add_argument("--init", help="start from this lifter checkpoint's weights (fine-tuning; `default`: the "
                                  "shipped model); the config's network must be the same")
    t.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="MPJPE / P-MPJPE on the test subjects, overall and on occluded joints")
    e.add_argument("checkpoint", help="checkpoint file, or a packaged model: default, causal, occluded")
    e.add_argument("--views", type=int, help="virtual views per test clip (default: the model's config)")
    e.add_argument("--clean", action="store_true", help="only the clean-2D evaluation")
    flip = e.add_mutually_exclusive_group()
    flip.add_argument("--no-flip", action="store_true",
                      help="without test-time flip averaging, whatever the model's config says (as `live` lifts)")
    flip.add_argument("--flip", action="store_true", help="with test-time flip averaging (model.flip_test)")
    e.add_argument("--grid", action="store_true", help="with test-time stride-grid averaging (model.shift_test)")
    e.add_argument("--bones", type=float, metavar="SHARE",
                   help="pull bone lengths this share of the way toward each sequence's median (a causal model's: "
                        "over its last frames; model.bone_test; 0 = off; default: the model's config)")
    e.add_argument("--data", help="mocap .npz")
    e.add_argument("--h36m", help="folder or data_3d_h36m.npz in the VideoPose3D layout (tests on S9, S11)")
    e.add_argument("--allow-pickle", action="store_true",
                   help="let --h36m read its pickled file (VideoPose3D's layout); a pickle can run code: only "
                        "for files you trust")
    e.add_argument("--per-clip", action="store_true", help="one row per clip and view")
    e.add_argument("--json", help="also write the numbers to this JSON file")
    e.add_argument("--overwrite", action="store_true")
    e.add_argument("--device", default="cpu")
    e.set_defaults(func=cmd_evaluate)

    li = sub.add_parser("lift", help="lift 2D keypoint files (.npz in README's 2D input layout, or COCO-style, "
                                     "MMPose or MediaPipe JSON) to 3D")
    li.add_argument("inputs", nargs="+",
                    help="input file(s): the project's .npz 2D layout, or JSON from COCO-style tools (MMPose, "
                         "Detectron2, Ultralytics), MMPose predictions or MediaPipe landmarks (README, \"From other "
                         "tools' JSON\")")
    li.add_argument("-o", "--output", required=True, help="output .npz, or a folder for several inputs")
    li.add_argument("--model", help="lifter checkpoint, or a packaged model: default, occluded (people behind objects) "
                                     "(default: default)")
    li.add_argument("--threshold", type=float,
                    help="confidence below which a keypoint is missing (default: the model's b; the paper's 0.3)")
    li.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    li.add_argument("--render", action="store_true", help="also draw 2D input and 3D result to OUTPUT.png")
    li.add_argument("--bvh", action="store_true", help="also write OUTPUT.bvh (Y-up, cm) for animation tools")
    li.add_argument("--fps", type=float, help="frame rate of JSON inputs that do not give one")
    li.add_argument("--track", help="JSON inputs with several people: the track_id to lift (default: the track "
                                    "seen in most frames)")
    li.add_argument("--focal", type=float, help="the camera's focal length in pixels, for a model that lifts "
                                                "along each person's viewing ray (the shipped one); default: an "
                                                "assumed field of view (--fov)")
    li.add_argument("--fov", type=float, help="the camera's horizontal field of view in degrees (default: 65 across "
                                              "the longer side, a phone or webcam)")
    li.add_argument("--device", default="cpu")
    li.set_defaults(func=cmd_lift)

    r = sub.add_parser("run", help="video -> every person's 3D poses (npz, JSON, CSV, BVH) and render.mp4")
    r.add_argument("video", nargs="+",
                   help="a video file (mp4, avi, mov, mkv, webm ...); or several, a folder or a glob: each gets "
                        "OUTPUT/NAME, finished ones are skipped, a summary table ends the batch")
    r.add_argument("-o", "--output", required=True, help="output folder")
    r.add_argument("--jobs", type=int, default=1, help="several videos: how many to run at once (processes)")
    r.add_argument("--overwrite", action="store_true", help="replace earlier results in the output folder")
    r.add_argument("--no-render", action="store_true", help="do not draw render.mp4")
    r.add_argument("--model", help="lifter checkpoint, or a packaged model: default, causal, occluded (people behind "
                                    "objects) (default: default)")
    r.add_argument("--backend", default="blazepose", choices=["blazepose", "hourglass"],
                   help="2D keypoint backend (hourglass: the paper's network, needs --weights)")
    r.add_argument("--weights", help="hourglass checkpoint (occlupose hourglass train)")
    r.add_argument("--detector", default="hog+blazepose", choices=["hog+blazepose", "hog", "blazepose"],
                   help="person detector(s)")
    r.add_argument("--detect-every", type=int, default=10,
                   help="run the person detector every N frames; people are followed in between (10)")
    r.add_argument("--search-after-loss", type=float, default=1.5,
                   help="seconds to keep looking for a lost person where they were heading, so they keep their id "
                        "(1.5; 0: only at the next detection, faster with many people)")
    r.add_argument("--detect-size", type=int, default=960,
                   help="the detector sees the frame shrunk to this many pixels on its longer side (0: full size)")
    r.add_argument("--detect-tiles", type=float, default=1.5,
                   help="the BlazePose detector also looks at overlapping square tiles, this many across the "
                        "frame's shorter side, for small people (1.5; 0: the whole frame only, faster)")
    r.add_argument("--smoothing", choices=["one_euro_fb", "one_euro", "none"],
                   help="keypoint stabilisation before lifting: One Euro forwards and backwards (no lag; the "
                        "default), forwards only (causal; the default with --causal), or none")
    r.add_argument("--no-clothes", action="store_true",
                   help="tell people apart by place and size alone (default: also by the colours of what they "
                        "wear, for people at least 160 px tall: a track that passes to someone else is cut there)")
    r.add_argument("--keep-sides", action="store_true",
                   help="keep the 2D model's left/right labels as it gave them (default: frames it labelled the "
                        "other way round, found over the whole track, or from the frames before with --causal, "
                        "are mirrored back)")
    r.add_argument("--causal", action="store_true",
                   help="use only past frames (as live use must): the packaged causal lifter (or a causal "
                        "--model), forwards-only smoothing of keypoints and positions and left/right repair")
    r.add_argument("--max-people", type=int, default=0, help="follow at most N people at once (0: all)")
    add_shared_options(r)
    r.add_argument("--start", type=float, default=0.0, help="first second of the video to process")
    r.add_argument("--end", type=float, help="last second of the video to process")
    r.add_argument("--threshold", type=float,
                   help="Eq. 2 confidence below which a joint is missing (default: the model's b, paper 0.3)")
    r.add_argument("--sigma", type=float,
                   help="Eq. 2 sigma, in units of the person's box size (default: the model's, paper 0.1)")
    r.add_argument("--focal", type=float, help="the camera's focal length in pixels (for where people are, in "
                                               "metres); default: an assumed field of view (--fov)")
    r.add_argument("--fov", type=float, help="the camera's horizontal field of view in degrees (default: 65 across "
                                             "the longer side, a phone or webcam)")
    r.add_argument("--device", default="cpu", help="device for the lifter (cpu, cuda)")
    r.add_argument("--threads", type=int, default=2, help="CPU threads per stage")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_run, parser=r)

    x = sub.add_parser("export-lifter", help="write the lifter as ONNX, with its input contract as JSON beside it")
    x.add_argument("-o", "--output", required=True, help="the .onnx file (the contract: the same name, .json)")
    x.add_argument("--model", help="lifter checkpoint (default: the shipped model)")
    x.add_argument("--overwrite", action="store_true", help="replace existing files")
    x.set_defaults(func=cmd_export_lifter)

    add_live_parser(sub)
    add_view_parser(sub)
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
    except (OSError, ValueError, FloatingPointError) as exc:
        print("occlupose: error: " + " ".join(str(exc).split()), file=sys.stderr)  # always one line
        return 2
    except KeyboardInterrupt:
        print("occlupose: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback on request
        if os.environ.get("OCCLUPOSE_DEBUG"):
            raise
        print(f"occlupose: internal error: {type(exc).__name__}: {exc} (rerun with OCCLUPOSE_DEBUG=1 for the "
              "traceback, and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
