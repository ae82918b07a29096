"""``occlupose live``: a camera or a video file at its own rate, drawn as it is processed, results on stop."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

LIVE_FILES = r"poses3d\.(npz|json|csv)|live\.(json|mp4)|track\d+\.bvh|viewer\.html"
WINDOW = "occlupose live"


class _NobodyFound(Exception):
    """Raised inside the output folder's staging so that nothing is written."""


def screen_available() -> bool:
    """Whether a window can be opened (a desktop session on Linux; always elsewhere)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _show_in_window():
    import cv2

    def show(picture) -> bool:
        cv2.imshow(WINDOW, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        closed = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
        return not (closed or key in (ord("q"), 27))

    return show


def cmd_live(args) -> int:
    from .lifter import load_checkpoint
    from .live import CameraSource, FileSource, LiveConfig, run_live
    from .outputs import write_tracks
    from .pipeline import RunConfig
    from .safeio import OutputFolder
    from .trajectory import TrajectoryConfig, intrinsics_for

    display = screen_available() if args.display is None else args.display
    if display and not screen_available():
        raise ValueError("--display: there is no screen to show on (no DISPLAY); use --no-display, and --record "
                         "to keep the picture as live.mp4")
    folder = OutputFolder(args.output, LIVE_FILES, args.overwrite)  # checked before the camera starts
    cfg = LiveConfig(seconds=args.seconds)
    run = RunConfig(detect_every=args.detect_every, detect_tiles=args.detect_tiles, max_people=args.max_people,
                    device=args.device, **shared_options(args),
                    search_after_loss=args.search_after_loss, join_online=not args.no_join,
                    sides="off" if args.keep_sides else "causal",
                    threads=args.threads, smoothing="one_euro", focal=args.focal, fov=args.fov,
                    trajectory=TrajectoryConfig(smoothing="one_euro"))
    import torch

    torch.set_num_threads(1)  # the lifter shares the CPU with the landmark model, which takes --threads
    loaded = load_checkpoint(args.model, args.device)
    model = loaded.model
    if not (model.cfg.tcn.causal and model.cfg.encoding.causal):
        raise ValueError(f"{args.model}: live use needs a causal lifter (model.tcn.causal and model.encoding.causal "
                         "in its config), such as the packaged 'causal'")
    model.cfg = replace(model.cfg, flip_test=args.flip)
    if args.source.isdigit():
        if args.every_frame:
            raise ValueError("--every-frame is for a video file; a camera gives frames at its own rate")
        source = CameraSource(int(args.source))
    else:
        source = FileSource(args.source, every_frame=args.every_frame)
    camera, camera_note = intrinsics_for(source.width, source.height, args.focal, args.fov)
    show = _show_in_window() if display else None
    if not args.quiet:
        how = "every frame, as fast as it can" if args.every_frame else "frames as they come, stale ones dropped"
        stop = "q or Esc in the window, or Ctrl-C" if display else "Ctrl-C"
        print(f"occlupose live: {args.source} ({source.width}x{source.height}), {how}; stop with {stop}",
              file=sys.stderr)
    try:
        with folder as staging:
            writer = None
            if args.record:
                from .video import VideoWriter

                writer = VideoWriter(staging / "live.mp4", source.fps, source.width + source.height, source.height)
            try:
                result = run_live(source, model, run, camera, cfg, show=show,
                                  record=writer.write if writer else None)
            finally:
                if writer is not None:
                    writer.close()
                if display:
                    import cv2

                    cv2.destroyAllWindows()
            if not result.tracks:
                raise _NobodyFound
            video = f"camera {args.source}" if args.source.isdigit() else str(Path(args.source).resolve())
            src = {"video": video, "width": source.width, "height": source.height}
            names = [p.name for p in write_tracks(staging, result.tracks, result.fps, camera=camera.record(camera_note),
                                                  source=src)]
            summary = result.summary() | {"source": args.source, "model": loaded.name, "flip_test": args.flip,
                                          "problems": result.problems}
            (staging / "live.json").write_text(json.dumps(summary, indent=1))
            names += ["live.json"] + (["live.mp4"] if writer else [])
    except _NobodyFound:
        print(f"occlupose: no person followed long enough in {result.processed} frames of {args.source}; "
              "nothing written", file=sys.stderr)
        return 3
    s = result.summary()
    for problem in result.problems:
        print(f"occlupose: warning: {problem}", file=sys.stderr)
    print(f"{args.source}: {s['frames_processed']} frames processed ({s['frames_dropped']} dropped while busy) in "
          f"{s['wall_seconds']:.1f} s: {s['frames_per_second']:.1f} frames/s; latency (frame available -> drawn) "
          f"median {s['latency_ms']['median']:.0f} ms, 95th percentile {s['latency_ms']['p95']:.0f} ms, no frames "
          f"of look-ahead; {len(result.tracks)} people, model {loaded.name}")
    print(f"wrote {len(names)} files to {folder.path}: " + ", ".join(names))
    return 0


def add_shared_options(parser) -> None:
    """``--landmark-budget``, ``--onto-2d`` and ``--world-depth``, shared by ``run`` and ``live`` (None when not
    given: RunConfig's defaults, which the help names)."""
    from .pipeline import RunConfig

    parser.add_argument("--landmark-budget", type=float, metavar="N",
                        help="crowds: landmark model passes per frame, on average, for the people followed; the "
                             "others are moved on by their optical flow, in turn, never two frames in a row (0: "
                             f"everyone every frame; default: {RunConfig.landmark_budget:g})")
    parser.add_argument("--onto-2d", type=float, metavar="SHARE",
                        help="move each joint's 3D this share, times its C* over 5 frames, of the way onto its "
                             "2D keypoint's camera ray at its depth, so that the 3D agrees with the 2D it was "
                             f"lifted from (0: the lifter's 3D as it is; default: {RunConfig.onto_2d:g})")
    parser.add_argument("--world-depth", type=world_depth_shares, metavar="SHARE[,ARMS,TRUNK]",
                        help="move each joint's depth a share of the way to the depth of BlazePose's own 3D pose "
                             "(its world landmarks, from the same pass): one share for every joint, or three for "
                             "the legs, the arms and the trunk and head (0: the lifter's depth alone; default: "
                             f"{','.join(f'{s:g}' for s in RunConfig.world_depth)})")


def world_depth_shares(text: str) -> tuple[float, ...]:
    """``--world-depth``: "S" (every joint) or "LEGS,ARMS,TRUNK"; RunConfig checks the range."""
    try:
        shares = tuple(float(s) for s in text.split(","))
    except ValueError:
        shares = ()
    if len(shares) not in (1, 3):
        raise argparse.ArgumentTypeError(f"{text!r}: one share, or three separated by commas (legs,arms,trunk)")
    return shares


def shared_options(args) -> dict:
    """RunConfig keywords for ``--landmark-budget``, ``--onto-2d`` and ``--world-depth`` where given."""
    given = {"landmark_budget": args.landmark_budget, "onto_2d": args.onto_2d, "world_depth": args.world_depth}
    return {k: v for k, v in given.items() if v is not None}


def add_parser(sub) -> None:
    lv = sub.add_parser("live", help="a camera (index) or a video file at its own rate: 2D and 3D drawn as they "
                                     "come, the usual result files when stopped")
    lv.add_argument("source", help="camera index (0, 1, ...) or a video file")
    lv.add_argument("-o", "--output", required=True, help="output folder, written when it stops")
    lv.add_argument("--overwrite", action="store_true", help="replace earlier results in the output folder")
    lv.add_argument("--model", default="causal", help="a causal lifter checkpoint (default: the packaged causal)")
    shown = lv.add_mutually_exclusive_group()
    shown.add_argument("--display", dest="display", action="store_true", default=None,
                       help="show the picture in a window (the default when there is a screen)")
    shown.add_argument("--no-display", dest="display", action="store_false", help="no window")
    lv.add_argument("--record", action="store_true", help="also write the drawn picture as live.mp4")
    lv.add_argument("--seconds", type=float, default=0.0, help="stop after this many seconds (0: at the end)")
    lv.add_argument("--every-frame", action="store_true",
                    help="a file: process every frame as fast as possible instead of at its own rate")
    lv.add_argument("--flip", action="store_true",
                    help="test-time flip averaging in the lifter (a little more accurate, twice the lifting cost)")
    lv.add_argument("--max-people", type=int, default=0, help="follow at most N people at once (0: all)")
    add_shared_options(lv)
    lv.add_argument("--keep-sides", action="store_true",
                    help="keep the 2D model's left/right labels as it gave them (default: a frame it labelled the "
                         "other way round from the frames before is mirrored back)")
    lv.add_argument("--detect-every", type=int, default=10,
                    help="run the person detector every N frames; people are followed in between (10)")
    lv.add_argument("--detect-tiles", type=float, default=1.5,
                    help="tiles across the frame's shorter side where the BlazePose detector also looks, for small "
                         "people (1.5; 0: the whole frame only, faster)")
    lv.add_argument("--search-after-loss", type=float, default=1.5,
                    help="seconds to keep looking for a lost person where they were heading (0: off)")
    lv.add_argument("--no-join", action="store_true",
                    help="show the online tracker's own ids: someone hidden for over 25 frames comes back as someone "
                         "new (default: given the id of the person they continue, lost within 1.5 s)")
    lv.add_argument("--focal", type=float, help="the camera's focal length in pixels: where people stand, and the "
                                                "viewing ray the packaged causal lifter lifts along")
    lv.add_argument("--fov", type=float, help="the camera's horizontal field of view in degrees (default: 65)")
    lv.add_argument("--device", default="cpu", help="device for the lifter (cpu, cuda)")
    lv.add_argument("--threads", type=int, default=2, help="CPU threads of the landmark model")
    lv.add_argument("--quiet", action="store_true", help="no start message")
    lv.set_defaults(func=cmd_live)


def cmd_view(args) -> int:
    import webbrowser

    from .safeio import atomic_file, check_new_file
    from .video import probe
    from .viewer import build_page, frame_span, load_result, preview_video, video_for

    doc = load_result(args.folder)
    out = check_new_file(args.output or Path(args.folder) / "viewer.html", args.overwrite, ".html")
    video, missing = (None, "shown without its video (--no-video)") if args.no_video else video_for(doc, args.video)
    data, origin, size = None, 0.0, None
    if video is not None:
        if args.video_height < 16 or args.video_kbps < 16:
            raise ValueError("--video-height and --video-kbps must be at least 16")
        info = probe(video)
        size = (info.width, info.height)
        first, end = frame_span(doc)
        data, origin = preview_video(video, args.video_height, args.video_kbps, first, end)
    elif not args.quiet:
        print(f"occlupose view: {missing}", file=sys.stderr)
    page = build_page(doc, data, origin, missing, title=Path(args.folder).resolve().name, size=size)
    with atomic_file(out, args.overwrite) as tmp:
        tmp.write_text(page, encoding="utf-8")
    print(f"wrote {out} ({len(page.encode()) / 1e6:.1f} MB: {len(doc['tracks'])} people"
          + (f", {video.name} at {args.video_height} rows" if video is not None else ", no video") + ")")
    if not args.no_open:
        if not webbrowser.open(out.resolve().as_uri()):
            print("occlupose view: no browser to open it with; open the file in one", file=sys.stderr)
    return 0


def add_view_parser(sub) -> None:
    v = sub.add_parser("view", help="write (and open) viewer.html: the video and every person's 3D in a scene "
                                    "to orbit, with a timeline; one file, no server")
    v.add_argument("folder", help="an output folder of occlupose run or live")
    v.add_argument("-o", "--output", help="the page to write (default: FOLDER/viewer.html)")
    v.add_argument("--overwrite", action="store_true", help="replace an existing page")
    v.add_argument("--video", help="the video the result came from (default: the one the result names)")
    v.add_argument("--no-video", action="store_true", help="the 3D alone, no video in the page")
    v.add_argument("--video-height", type=int, default=360, help="rows of the video copy inside the page (360)")
    v.add_argument("--video-kbps", type=int, default=250,
                   help="bit rate of that copy in kbit/s (250: about 2.5 MB of page per minute)")
    v.add_argument("--no-open", action="store_true", help="do not open it in a browser")
    v.add_argument("--quiet", action="store_true")
    v.set_defaults(func=cmd_view)
