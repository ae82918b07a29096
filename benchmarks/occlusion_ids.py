"""Does a person keep one id when something hides them? Real footage, real front end, a measured occlusion.

For each clip: `occlupose run`'s front end once on the clip as it is; every person it follows for at least
``--min-seconds`` is a subject. Then, for each subject and each duration d: a copy of the clip in which a flat
grey panel covers that person entirely (their keypoint box from the first run, 25 % larger on each side) for d
seconds from the middle of their track, as a passer-by, a pillar or a car would; the front end again. The
subject **kept one id** when the output track that holds them just before the panel (pelvis keypoint within
0.3 body sizes of the first run's) is the one that holds them just after it. Also counted: frames of the
subject, before and after, that no output track holds, and trials where the track after the panel is the one
that held *another* subject just before it (a swap of ids, worse than a new one).

Clips: the bundled street clip (768x576, 10 frames/s, 15 s); with ``--wheel`` also the 8 views of
pose2sim's two demos (1080x1920, 60 frames/s, 1.7 s each: only the shorter durations fit).

Rerun: python benchmarks/occlusion_ids.py [--wheel WHEEL] [--durations 0.3 0.6 1.0] [--search-after-loss 0]
       [--landmark-budget 0] (every person looked at in every frame)
       [--jumps] (only: how far tracks' pelvises lie from their constant-velocity predictions, clean clips)
       [--appearance] (only: how far apart people's clothes are, and one person's over time, clean clips)
       [--only SUBSTRING] (only the clips whose path contains it) [--no-clothes] (stitching by place alone)
       [--live [--no-join]] (the ids live use shows: no stitching; --no-join: the online tracker's own)
"""

from __future__ import annotations

import argparse
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from occlupose.appearance import distance as clothes_distance
from occlupose.pipeline import RunConfig, measured_fps, track_video
from occlupose.tracking import clothes, jump, windowed_clothes
from occlupose.video import VideoWriter, probe, read_frames

EXAMPLE = Path(__file__).parents[1] / "examples" / "street.mp4"


def people(video: Path, cfg: RunConfig, online: bool = False) -> tuple[list[dict], np.ndarray]:
    """Front end only: each stitched track (``online``: each person as live use numbers them) as {frame:
    (pelvis (2,), size, box (4,))}, and the frames' times."""
    _, tracks, _, _, times, _ = track_video(video, cfg, progress=False, online=online)
    out = []
    for t in tracks:
        out.append({f: (d.keypoints[0].copy(), d.size, d.box.copy()) for f, d in zip(t.frames, t.detections)})
    return out, times


def jumps(video: Path, cfg: RunConfig) -> np.ndarray:
    """How far each detection's pelvis lies from where its track was heading (the tracker's constant-velocity
    prediction), in body sizes, over the tracks of at least 10 frames of a clean run: what a gate on jumps
    would have to allow."""
    _, tracks, _, _, _, _ = track_video(video, cfg, progress=False)
    return np.asarray([jump(t, k) for t in tracks if len(t.frames) >= 10 for k in range(2, len(t.frames))])


def wardrobe(video: Path, cfg: RunConfig) -> tuple[np.ndarray, np.ndarray, float, int, int]:
    """What tells people apart by their clothes (occlupose.appearance), on a clean run: the change in one
    person's clothes between successive windows of ``cfg.stitch.appearance_s`` (the medians the cut compares),
    the distance between two people's windows, their median size (px), and the output tracks with the cut and
    with it turned off (a cut on a clean clip is a mistake unless the crop really passed to someone else)."""
    off = replace(cfg, stitch=replace(cfg.stitch, clothes=False))
    info, plain, _, _, times, _ = track_video(video, off, progress=False)
    _, cut, _, _, _, _ = track_video(video, cfg, progress=False)
    w = max(1, int(round(cfg.stitch.appearance_s * measured_fps(times, info.fps))))
    same, per_track, sizes = [], [], []
    for t in plain:
        c = clothes(t, 0.0)
        if len(t.frames) < 2 * w:
            continue
        sizes += [d.size for d in t.detections]
        med = windowed_clothes(c, w)
        same += list(clothes_distance(med[:len(c) - 2 * w + 1], med[w:]))
        per_track.append(med[::w])
    cross = [clothes_distance(a[:, None], b[None]).ravel() for i, a in enumerate(per_track)
             for b in per_track[i + 1:]]
    return (np.asarray(same), np.concatenate(cross) if cross else np.zeros(0), float(np.median(sizes or [0])),
            len(cut), len(plain))


def hidden_copy(video: Path, dst: Path, boxes: dict[int, np.ndarray], grow: float = 0.25) -> None:
    """``video`` with a grey panel over ``boxes`` (frame -> x0 y0 x1 y1), each grown by ``grow`` per side."""
    info = probe(video)
    with VideoWriter(dst, info.fps, info.width, info.height, crf=18) as w:
        for i, stamp, frame in read_frames(video):
            if i in boxes:
                x0, y0, x1, y1 = boxes[i]
                mx, my = grow * (x1 - x0), grow * (y1 - y0)
                xa, ya = int(max(0, x0 - mx)), int(max(0, y0 - my))
                xb, yb = int(min(info.width, x1 + mx)), int(min(info.height, y1 + my))
                frame = frame.copy()
                frame[ya:yb, xa:xb] = 128
            w.write(frame, stamp)


def holder(tracks: list[dict], frame: int, pelvis: np.ndarray, size: float) -> int | None:
    """Index of the output track holding the subject in ``frame``, if any."""
    best, where = None, 0.3
    for k, t in enumerate(tracks):
        if frame in t:
            d = float(np.linalg.norm(t[frame][0] - pelvis)) / max(size, 1.0)
            if d < where:
                best, where = k, d
    return best


def trial(video: Path, subject: dict, start: int, stop: int, cfg: RunConfig, work: Path,
          online: bool = False, others: tuple[dict, ...] = ()) -> tuple[bool, int, int, bool]:
    """Hide ``subject`` in frames [start, stop); (one id kept, subject frames outside the panel not held, output
    tracks, swapped: the track that holds the subject after the panel held one of ``others`` — the clip's other
    subjects — just before it, so the subject is shown with someone else's id)."""
    dst = work / f"hidden_{start}_{stop}.mp4"
    hidden_copy(video, dst, {f: subject[f][2] for f in range(start, stop) if f in subject})
    tracks, _ = people(dst, cfg, online)
    frames = sorted(subject)
    before = [f for f in frames if f < start][-3:]
    after = [f for f in frames if f >= stop][:3]
    ids_before = [holder(tracks, f, *subject[f][:2]) for f in before]
    ids_after = [holder(tracks, f, *subject[f][:2]) for f in after]
    lost = sum(holder(tracks, f, *subject[f][:2]) is None for f in frames if not start <= f < stop)
    a = max(set(ids_before), key=ids_before.count) if ids_before else None
    b = max(set(ids_after), key=ids_after.count) if ids_after else None
    swapped = False
    if b is not None and b != a:
        for o in others:
            held = [holder(tracks, f, *o[f][:2]) for f in sorted(f for f in o if f < start)[-3:]]
            swapped |= bool(held) and max(set(held), key=held.count) == b
    return a is not None and a == b, lost, len(tracks), swapped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", help="pose2sim-0.10.49 wheel: adds the 8 views of its two demos")
    ap.add_argument("--durations", type=float, nargs="+", default=[0.3, 0.6, 1.0])
    ap.add_argument("--min-seconds", type=float, default=3.0, help="a subject is followed at least this long")
    ap.add_argument("--search-after-loss", type=float, default=RunConfig.search_after_loss,
                    help="the front end's search for lost people, seconds (0: off)")
    ap.add_argument("--landmark-budget", type=float, default=RunConfig.landmark_budget,
                    help="landmark model passes per frame for the people followed (RunConfig.landmark_budget; 0: "
                         "everyone every frame)")
    ap.add_argument("--no-clothes", action="store_true",
                    help="the stitching without clothes: no cut where a track passes to someone else, no colour cost")
    ap.add_argument("--live", action="store_true",
                    help="score the ids live use shows (no stitching after the fact; subjects still from `run`)")
    ap.add_argument("--no-join", action="store_true",
                    help="with --live: the online tracker's own ids, no joining of a new track to a lost person")
    ap.add_argument("--only", help="only the clips whose path contains this (e.g. MultiPerson, street)")
    ap.add_argument("--appearance", action="store_true",
                    help="only print how far apart people's clothes are, and one person's over time (clean clips)")
    ap.add_argument("--jumps", action="store_true",
                    help="only print how far tracks' pelvises lie from their predictions on the clean clips")
    args = ap.parse_args()
    cfg = RunConfig(search_after_loss=args.search_after_loss, landmark_budget=args.landmark_budget)
    if args.no_clothes:
        cfg = replace(cfg, stitch=replace(cfg.stitch, clothes=False))
    if args.no_join:
        cfg = replace(cfg, join_online=False)
    rows: dict[float, list[tuple[bool, int, bool]]] = {d: [] for d in args.durations}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips = [(EXAMPLE, args.min_seconds)]
        if args.wheel:
            with zipfile.ZipFile(args.wheel) as z:
                names = sorted(n for n in z.namelist() if n.endswith(".mp4") and "/Demo_" in n
                               and ("SinglePerson" in n or "MultiPerson" in n))
                z.extractall(tmp, names)
            clips += [(work / n, 1.2) for n in names]
        if args.only:
            clips = [c for c in clips if args.only in str(c[0])]
        if args.appearance:
            print("| clip | median size px | one person: 99th percentile | max | two people: min | 5th percentile | "
                  "output tracks (without the cut) |")
            print("|---|---|---|---|---|---|---|")
            for video, _ in clips:
                same, cross, size, n_cut, n_plain = wardrobe(video, cfg)
                q = (lambda a, p: f"{np.nanpercentile(a, p):.1f}" if np.isfinite(a).any() else "-")  # noqa: E731
                print(f"| {video.parent.parent.name}/{video.name} | {size:.0f} | {q(same, 99)} | {q(same, 100)} | "
                      f"{q(cross, 0)} | {q(cross, 5)} | {n_cut} ({n_plain}) |")
            return
        if args.jumps:
            print("| clip | detections | median | 99th percentile | max (body sizes from the prediction) |")
            print("|---|---|---|---|---|")
            for video, _ in clips:
                j = jumps(video, cfg)
                print(f"| {video.parent.parent.name}/{video.name} | {len(j)} | {np.median(j):.3f} | "
                      f"{np.percentile(j, 99):.3f} | {j.max():.3f} |")
            return
        for video, min_s in clips:
            info = probe(video)
            subjects, _ = people(video, cfg)
            subjects = [s for s in subjects if len(s) >= min_s * info.fps]
            print(f"{video.name}: {len(subjects)} subject(s) followed >= {min_s:g} s", flush=True)
            for s in subjects:
                frames = sorted(s)
                for d in args.durations:
                    n = int(round(d * info.fps))
                    if len(frames) < n + 6:
                        continue
                    start = frames[(len(frames) - n) // 2]
                    others = tuple(o for o in subjects if o is not s)
                    kept, lost, count, swapped = trial(video, s, start, start + n, cfg, work, args.live, others)
                    rows[d].append((kept, lost, swapped))
                    what = "one id" if kept else "ANOTHER SUBJECT'S ID" if swapped else "NEW ID"
                    print(f"  subject at frames {frames[0]}-{frames[-1]}, hidden {start}-{start + n - 1} ({d:g} s): "
                          f"{what}, {lost} frames not held, {count} tracks", flush=True)
    print("\n| hidden for | subjects | kept one id | shown with another subject's id after | subject frames not held "
          "(outside the panel) |")
    print("|---|---|---|---|---|")
    for d, r in rows.items():
        if r:
            print(f"| {d:g} s | {len(r)} | **{sum(k for k, _, _ in r)} / {len(r)}** | {sum(w for _, _, w in r)} | "
                  f"{sum(n for _, n, _ in r)} |")
    wheel = f" --wheel {args.wheel}" if args.wheel else ""
    only = ((f" --only {args.only}" if args.only else "") + (" --no-clothes" if args.no_clothes else "")
            + (" --live" if args.live else "") + (" --no-join" if args.no_join else ""))
    print(f"\nrerun: python benchmarks/occlusion_ids.py{wheel}{only} --durations {' '.join(map(str, args.durations))} "
          f"--search-after-loss {args.search_after_loss:g} --landmark-budget {args.landmark_budget:g}")


if __name__ == "__main__":
    main()
