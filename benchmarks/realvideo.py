"""Real-video benchmark: 4 synchronised, calibrated views of the same scene, each run as a monocular video, and
scored against a 3D reference triangulated from all 4 views.

Data: the ``Demo_MultiPerson`` folder inside the ``pose2sim`` wheel on PyPI (BSD-3-Clause): 4 portrait videos
(1088x1920, 60 fps, 100 frames) and a Qualisys calibration. Nothing is downloaded at run time: fetch the wheel
once with ``pip download --no-deps pose2sim==0.10.49 -d WHEELS`` and pass it with ``--wheel``.

Reference: each view's 2D keypoints of the subject (the person on the treadmill, found in every view by
cross-view consistency) from occlupose's front end, undistorted, triangulated per frame and joint by
weighted DLT (weights = keypoint confidence); views whose reprojection error for a joint exceeds
``--max-reproj`` px are dropped and the joint re-triangulated; a view whose left/right labels fit the other
views better swapped has them swapped. Its own quality is printed (reprojection per view, the views' mean
signed offsets, bone-length variation). The reference shares the landmark network (BlazePose) with both
systems scored, and its 2D comes from occlupose's crops: the 2D errors favour occlupose by construction,
the 3D ones do not.

Scored per view, on the subject: occlupose (``run_video`` + the default lifter), MediaPipe's legacy ``Pose``
(``pose_world_landmarks`` for 3D, ``pose_landmarks`` for 2D; single-person, so the frames where it follows
someone else are counted, not scored), and a constant mean pose (the training mocap's, upright, facing the
camera). 3D errors root-aligned in each camera's frame on the 14 joints whose definitions agree between
BlazePose and the mocap skeleton; spine, neck/nose and head top are reported apart.

Rerun: python benchmarks/realvideo.py --wheel WHEELS/pose2sim-0.10.49-py3-none-any.whl [--views 1 2 3 4] [--model CKPT]
"""

from __future__ import annotations

import argparse
import itertools
import time
import zipfile
from pathlib import Path

import numpy as np

from occlupose.data import load_mocap
from occlupose.lifter import load_checkpoint
from occlupose.metrics import accel_error, mpjpe, n_mpjpe, p_mpjpe
from occlupose.multiview import Camera, read_qca, triangulate
from occlupose.pipeline import RunConfig, run_video
from occlupose.skeleton import BONES, FLIP_PERMUTATION, to_h36m

DEMO = "Pose2Sim/Demo_MultiPerson"
#: joints whose BlazePose-derived definition differs from the mocap skeleton's
DIFFERENT = np.array([7, 9, 10])
WELL_DEFINED = np.setdiff1d(np.arange(17), DIFFERENT)


def extract(wheel: Path, work: Path) -> tuple[list[Path], Path]:
    """The demo's videos and calibration, copied out of the wheel once."""
    names = [f"{DEMO}/videos/cam0{i}.mp4" for i in range(1, 5)] + [f"{DEMO}/calibration/Calib.qca.txt"]
    with zipfile.ZipFile(wheel) as z:
        for n in names:
            if not (work / n).is_file():
                z.extract(n, work)
    return [work / n for n in names[:4]], work / names[4]


def undistorted(cams: list[Camera], uv: np.ndarray) -> np.ndarray:
    return np.stack([c.undistort(uv[i]) for i, c in enumerate(cams)])


def reproj(cams: list[Camera], X: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(V, ..., J) pixel distances between the views' keypoints and the projections of X."""
    return np.stack([np.linalg.norm(c.project(X) - uv[i], axis=-1) for i, c in enumerate(cams)])


def associate(cams, tracks_per_view, n_frames):
    """The subject's track in each view: the combination (one track per view) that triangulates with the
    smallest reprojection error over the frames all its tracks cover, among tracks seen in most frames."""
    cands = [[t for t in tracks if len(t.frames) >= 0.5 * n_frames] for tracks in tracks_per_view]
    best = (np.inf, None)
    for combo in itertools.product(*[range(len(c)) for c in cands]):
        ts = [cands[v][k] for v, k in enumerate(combo)]
        common = sorted(set.intersection(*[set(t.frames.tolist()) for t in ts]))
        if len(common) < 0.5 * n_frames:
            continue
        uv = np.stack([t.keypoints_2d[np.searchsorted(t.frames, common)] for t in ts])
        X = triangulate(undistorted(cams, uv), np.ones(uv.shape[:-1]), np.stack([c.P for c in cams]))
        err = np.nanmedian(reproj(cams, X, uv))
        if err < best[0]:
            best = (err, ts)
    if best[1] is None:
        raise SystemExit("no person is followed in every view for half of the clip")
    return best[1]


def reference(cams, subject, n_frames, max_reproj):
    """(T, 17, 3) world reference (NaN where < 2 views agree), per-view residuals, swap counts."""
    v = len(cams)
    uv = np.full((v, n_frames, 17, 2), np.nan)
    w = np.zeros((v, n_frames, 17))
    for i, t in enumerate(subject):
        uv[i, t.frames] = t.keypoints_2d
        w[i, t.frames] = np.clip(t.confidence, 0.05, 1.0)
    uv0 = np.nan_to_num(uv)
    P = np.stack([c.P for c in cams])
    X = triangulate(undistorted(cams, uv0), w, P)
    swaps = np.zeros(v, int)
    for i in range(v):  # a view whose left/right fit the others better swapped is swapped
        others = w.copy()
        others[i] = 0
        Xo = triangulate(undistorted(cams, uv0), others, P)
        e_keep = np.nanmedian(np.linalg.norm(cams[i].project(Xo) - uv0[i], axis=-1), axis=-1)
        e_swap = np.nanmedian(np.linalg.norm(cams[i].project(Xo) - uv0[i][:, FLIP_PERMUTATION], axis=-1), axis=-1)
        flip = (e_swap < 0.5 * e_keep) & (w[i].sum(-1) > 0)
        uv0[i, flip] = uv0[i, flip][:, FLIP_PERMUTATION]
        w[i, flip] = w[i, flip][:, FLIP_PERMUTATION]
        swaps[i] = int(flip.sum())
    for _ in range(2):  # drop the views that disagree, triangulate again
        X = triangulate(undistorted(cams, uv0), w, P)
        r = reproj(cams, X, uv0)
        w = np.where(r > max_reproj, 0.0, w)
    X = triangulate(undistorted(cams, uv0), w, P)
    return X, np.where(w > 0, reproj(cams, X, uv0), np.nan), uv0 - np.stack([c.project(X) for c in cams]), w, swaps


def run_mediapipe(video: Path) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's own pipeline on one view: (T, 17, 2) pixels and (T, 17, 3) metres (NaN where none)."""
    import os

    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ log lines
    import mediapipe as mp

    from occlupose.video import read_frames

    kp2, kp3 = [], []
    with mp.solutions.pose.Pose(model_complexity=1) as pose:
        for _, _, frame in read_frames(video):
            h, w = frame.shape[:2]
            res = pose.process(frame)
            if res.pose_landmarks is None:
                kp2.append(np.full((17, 2), np.nan))
                kp3.append(np.full((17, 3), np.nan))
                continue
            lm = np.array([[p.x * w, p.y * h] for p in res.pose_landmarks.landmark])
            wl = np.array([[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark])
            ones = np.ones(33)
            kp2.append(to_h36m(lm, ones, "mediapipe33")[0])
            kp3.append(to_h36m(wl, ones, "mediapipe33")[0])
    return np.array(kp2), np.array(kp3)


def mean_pose_in_camera(cam: Camera) -> np.ndarray:
    """(17, 3) the training mocap's mean root-relative pose, upright and facing the camera, in its frame."""
    mocap = load_mocap()
    poses = np.concatenate([mocap.clips[k] for k in mocap.keys("train")]).astype(np.float64)
    poses = poses - poses[:, :1]
    hips = poses[:, 4] - poses[:, 1]  # right -> left hip: face along the normal of the hip line
    yaw = np.arctan2(hips[:, 1], hips[:, 0])
    c, s = np.cos(-yaw), np.sin(-yaw)
    rz = np.stack([np.stack([c, -s, np.zeros_like(c)], -1), np.stack([s, c, np.zeros_like(c)], -1),
                   np.tile([0.0, 0.0, 1.0], (len(c), 1))], 1)
    mean = np.einsum("nij,nkj->nki", rz, poses).mean(0)  # hips along world x
    fwd = cam.R[2] * np.array([1, 1, 0])
    fwd /= np.linalg.norm(fwd)
    a = np.arctan2(fwd[1], fwd[0]) - np.pi / 2  # the person faces the camera: their front is -fwd
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    return (rot @ mean.T).T @ cam.R.T


def score(pred3: np.ndarray | None, pred2: np.ndarray | None, ref_cam: np.ndarray, ref2: np.ndarray,
          ok: np.ndarray, joints: np.ndarray) -> dict[str, float]:
    """Errors over frames ``ok`` on ``joints``: 3D root-aligned (mm), 2D (px), accelerations."""
    out = {"frames": int(ok.sum())}
    if pred3 is not None:
        p3 = np.nan_to_num(pred3 - pred3[:, :1])[:, joints]
        g3 = np.nan_to_num(ref_cam - ref_cam[:, :1])[:, joints]
        p, g = p3[ok], g3[ok]
        out.update(mpjpe=1000 * float(mpjpe(p, g)), p_mpjpe=1000 * float(p_mpjpe(p, g)),
                   n_mpjpe=1000 * float(n_mpjpe(p, g)),
                   accel_3d_mm=1000 * accel_error(p3, g3, np.repeat(ok[:, None], len(joints), 1)))
    if pred2 is not None:
        out.update(err_2d_px=float(np.nanmean(np.linalg.norm(pred2[ok][:, joints] - ref2[ok][:, joints], axis=-1))),
                   accel_2d_px=float(np.nanmean(np.linalg.norm(np.diff(pred2[:, joints], 2, axis=0), axis=-1))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", required=True, help="pose2sim-*.whl (pip download --no-deps pose2sim==0.10.49)")
    ap.add_argument("--work", default="/tmp/occlupose-realvideo", help="where the demo files are extracted")
    ap.add_argument("--views", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--max-reproj", type=float, default=40.0, help="px above which a view is dropped for a joint")
    ap.add_argument("--no-mediapipe", action="store_true")
    ap.add_argument("--model", help="lifter checkpoint to score (default: the shipped model)")
    args = ap.parse_args()
    t0 = time.time()
    videos, calib = extract(Path(args.wheel), Path(args.work))
    cams = read_qca(calib)
    model = load_checkpoint(args.model).model
    runs = []
    for v in videos:
        r = run_video(v, model, RunConfig(), progress=False)
        runs.append(r)
        print(f"{v.name}: {len(r.tracks)} tracks, {r.frames} frames, front end {r.frames / r.front_end_seconds():.1f} "
              "frames/s")
    n = min(r.frames for r in runs)
    subject = associate(cams, [r.tracks for r in runs], n)
    X, res, signed, w, swaps = reference(cams, subject, n, args.max_reproj)
    ok = np.isfinite(X).all((-1, -2))
    print(f"\n## Reference: {ok.sum()} of {n} frames with every joint seen by >= 2 views")
    print("| view | tracks | subject track | median reprojection px | mean offset px (x, y) | views kept | L/R swaps | "
          "reference 2D accel px |")
    print("|---|---|---|---|---|---|---|---|")
    for i in range(len(cams)):
        off = np.nanmedian(signed[i][w[i] > 0], 0)
        acc = np.nanmean(np.linalg.norm(np.diff(cams[i].project(X)[:, WELL_DEFINED], 2, axis=0), axis=-1))
        print(f"| {cams[i].name} | {len(runs[i].tracks)} | {subject[i].track_id} | {np.nanmedian(res[i]):.1f} | "
              f"({off[0]:+.1f}, {off[1]:+.1f}) | {100 * (w[i] > 0).mean():.0f} % | {swaps[i]} | {acc:.1f} |")
    bones = np.linalg.norm(X[ok][:, BONES[:, 0]] - X[ok][:, BONES[:, 1]], axis=-1)
    acc3 = np.nanmean(np.linalg.norm(np.diff(X[:, WELL_DEFINED], 2, axis=0), axis=-1))
    print(f"bone length CV over frames: median {np.median(bones.std(0) / bones.mean(0)):.3f}; the reference's own "
          f"3D acceleration: {1000 * acc3:.1f} mm/frame^2 (its jitter bounds the acceleration errors below)")

    rows = []
    for i, cam in enumerate(cams):
        if i + 1 not in args.views:
            continue
        ref_cam = cam.to_camera(X)
        ref2 = cam.project(X)
        t = subject[i]
        ours3 = np.full((n, 17, 3), np.nan)
        ours2 = np.full((n, 17, 2), np.nan)
        keep = t.frames < n
        ours3[t.frames[keep]], ours2[t.frames[keep]] = t.poses_3d[keep], t.keypoints_2d[keep]
        have = ok & np.isfinite(ours3).all((-1, -2))
        systems = {"occlupose": (ours3, ours2, have)}
        if not args.no_mediapipe:
            mp2, mp3 = run_mediapipe(videos[i])
            mp2, mp3 = mp2[:n], mp3[:n]
            dist = np.linalg.norm(mp2 - ref2, axis=-1)
            on_subject = np.isfinite(dist).all(-1) & (np.median(np.nan_to_num(dist, nan=1e9), -1) < 0.1 * cam.size[1])
            systems["MediaPipe"] = (mp3, mp2, ok & on_subject)
        systems["mean pose"] = (np.repeat(mean_pose_in_camera(cam)[None], n, 0), None, ok)
        common = np.logical_and.reduce([fr for _, _, fr in systems.values()])
        for name, (p3, p2, frames) in systems.items():
            rows.append((cam.name, name, score(p3, p2, ref_cam, ref2, frames, WELL_DEFINED),
                         score(p3, None, ref_cam, ref2, frames, DIFFERENT),
                         score(p3, p2, ref_cam, ref2, common, WELL_DEFINED)))
    print("\n## Scores on the subject (14 well-defined joints; 3D root-aligned in the view's camera frame)")
    print("| view | system | frames | 2D px | 2D accel px | MPJPE | P-MPJPE | N-MPJPE | accel mm | "
          "MPJPE spine/neck/head |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for view, name, s, d, _ in rows:
        print(f"| {view} | {name} | {s['frames']} | {s.get('err_2d_px', np.nan):.1f} | "
              f"{s.get('accel_2d_px', np.nan):.1f} | {s['mpjpe']:.0f} | {s['p_mpjpe']:.0f} | {s['n_mpjpe']:.0f} | "
              f"{s['accel_3d_mm']:.1f} | {d['mpjpe']:.0f} |")
    for title, col in (("each on the frames it returned for the subject", 2),
                       ("head to head: only the frames every system returned for the subject", 4)):
        print(f"\n### Mean over views, {title}\n")
        print("| system | 2D px | 2D accel px | MPJPE | P-MPJPE | N-MPJPE | accel mm | frames |")
        print("|---|---|---|---|---|---|---|---|")
        for name in dict.fromkeys(r[1] for r in rows):
            sel = [r[col] for r in rows if r[1] == name and r[col]["frames"] > 2]
            m = {k: np.mean([s.get(k, np.nan) for s in sel]) for k in
                 ("err_2d_px", "accel_2d_px", "mpjpe", "p_mpjpe", "n_mpjpe", "accel_3d_mm")}
            print(f"| {name} | {m['err_2d_px']:.1f} | {m['accel_2d_px']:.1f} | {m['mpjpe']:.0f} | {m['p_mpjpe']:.0f} | "
                  f"{m['n_mpjpe']:.0f} | {m['accel_3d_mm']:.1f} | {sum(s['frames'] for s in sel)} |")
    print(f"\n{time.time() - t0:.0f} s. rerun: python benchmarks/realvideo.py --wheel {args.wheel}")


if __name__ == "__main__":
    main()
