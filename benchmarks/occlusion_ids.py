"""Does a person keep one id when something hides them? Real footage, real front end, a measured occlusion.

For each clip: `occlupose run`'s front end once on the clip as it is; every person it follows for at least
``--min-seconds`` is a subject. Then, for each subject and each duration d: a copy of the clip in which a flat
grey panel covers that person entirely (their keypoint box from the first run, 25 % larger on each side) for d
seconds from the middle of their track, as a passer-by, a pillar or a car would; the front end again. The
subject **kept one id** when the output track that holds them just before the panel (pelvis keypoint within
0.3 body sizes of the first run's) is the one that holds them just after it. Also counted: frames of the
subject, before and after, that no output track holds.

Clips: the bundled street clip (768x576, 10 frames/s, 15 s); with ``--wheel`` also the 8 views of
pose2sim's two demos (1080x1920, 60 frames/s, 1.7 s each: only the shorter durations fit).

Rerun: python benchmarks/occlusion_ids.py [--wheel WHEEL] [--durations 0.3 0.6 1.0] [--search-after-loss 0]
       [--jumps] (only: how far tracks' pelvises lie from their constant-velocity predictions, clean clips)
"""

from __future__ import annotations

import argparse
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from occlupose.pipeline import RunConfig, track_video
from occlupose.tracking import Track
from occlupose.video import VideoWriter, probe, read_frames

EXAMPLE = Path(__file__).parents[1] / "examples" / "street.mp4"


def people(video: Path, cfg: RunConfig) -> tuple[list[dict], np.ndarray]:
    """Front end only: each stitched track as {frame: (pelvis (2,), size)}, and the frames' times."""
    _, tracks, _, _, times, _ = track_video(video, cfg, progress=False)
    out = []
    for t in tracks:
        out.append({f: (d.keypoints[0].copy(), d.size, d.box.copy()) for f, d in zip(t.frames, t.detections)})
    return out, times


def jumps(video: Path, cfg: RunConfig) -> np.ndarray:
    """How far each detection's pelvis lies from where its track was heading (the tracker's constant-velocity
    prediction), in body sizes, over the tracks of at least 10 frames of a clean run: what a gate on jumps
    would have to allow."""
    _, tracks, _, _, _, _ = track_video(video, cfg, progress=False)
    out = []
    for t in tracks:
        if len(t.frames) < 10:
            continue
        for k in range(2, len(t.frames)):
            _, pred = Track(t.track_id, t.frames[:k], t.detections[:k]).predicted(t.frames[k])
            d = t.detections[k]
            out.append(np.linalg.norm(d.keypoints[0] - pred[0]) / max(d.size, t.detections[k - 1].size))
    return np.asarray(out)


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


def trial(video: Path, subject: dict, start: int, stop: int, cfg: RunConfig, work: Path) -> tuple[bool, int, int]:
    """Hide ``subject`` in frames [start, stop); (one id kept, subject frames outside the panel not held, output
    tracks)."""
    dst = work / f"hidden_{start}_{stop}.mp4"
    hidden_copy(video, dst, {f: subject[f][2] for f in range(start, stop) if f in subject})
    tracks, _ = people(dst, cfg)
    frames = sorted(subject)
    before = [f for f in frames if f < start][-3:]
    after = [f for f in frames if f >= stop][:3]
    ids_before = [holder(tracks, f, *subject[f][:2]) for f in before]
    ids_after = [holder(tracks, f, *subject[f][:2]) for f in after]
    lost = sum(holder(tracks, f, *subject[f][:2]) is None for f in frames if not start <= f < stop)
    a = max(set(ids_before), key=ids_before.count) if ids_before else None
    b = max(set(ids_after), key=ids_after.count) if ids_after else None
    return a is not None and a == b, lost, len(tracks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", help="pose2sim-0.10.49 wheel: adds the 8 views of its two demos")
    ap.add_argument("--durations", type=float, nargs="+", default=[0.3, 0.6, 1.0])
    ap.add_argument("--min-seconds", type=float, default=3.0, help="a subject is followed at least this long")
    ap.add_argument("--search-after-loss", type=float, default=RunConfig.search_after_loss,
                    help="the front end's search for lost people, seconds (0: off)")
    ap.add_argument("--jumps", action="store_true",
                    help="only print how far tracks' pelvises lie from their predictions on the clean clips")
    args = ap.parse_args()
    cfg = RunConfig(search_after_loss=args.search_after_loss)
    rows: dict[float, list[tuple[bool, int]]] = {d: [] for d in args.durations}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips = [(EXAMPLE, args.min_seconds)]
        if args.wheel:
            with zipfile.ZipFile(args.wheel) as z:
                names = sorted(n for n in z.namelist() if n.endswith(".mp4") and "/Demo_" in n
                               and ("SinglePerson" in n or "MultiPerson" in n))
                z.extractall(tmp, names)
            clips += [(work / n, 1.2) for n in names]
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
                    kept, lost, count = trial(video, s, start, start + n, cfg, work)
                    rows[d].append((kept, lost))
                    print(f"  subject at frames {frames[0]}-{frames[-1]}, hidden {start}-{start + n - 1} ({d:g} s): "
                          f"{'one id' if kept else 'NEW ID'}, {lost} frames not held, {count} tracks", flush=True)
    print("\n| hidden for | subjects | kept one id | subject frames not held (outside the panel) |")
    print("|---|---|---|---|")
    for d, r in rows.items():
        if r:
            print(f"| {d:g} s | {len(r)} | **{sum(k for k, _ in r)} / {len(r)}** | {sum(n for _, n in r)} |")
    wheel = f" --wheel {args.wheel}" if args.wheel else ""
    print(f"\nrerun: python benchmarks/occlusion_ids.py{wheel} --durations {' '.join(map(str, args.durations))} "
          f"--search-after-loss {args.search_after_loss:g}")


if __name__ == "__main__":
    main()
