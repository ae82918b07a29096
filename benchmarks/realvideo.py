"""Real-video benchmark: 4 synchronised, calibrated views of the same scene, each run as a monocular video, and
scored against a 3D reference triangulated from all 4 views.

Data: two scenes of the ``pose2sim`` wheel on PyPI (BSD-3-Clause), each 4 portrait videos (1080-1088x1920,
60 fps, 100 frames) with one Qualisys calibration: ``multi`` (Demo_MultiPerson: a man moving on a treadmill,
a woman in grey beside it, a bystander) and ``single`` (Demo_SinglePerson: a man walking across the platform, a
bystander at the back). Nothing is downloaded at run time: fetch the wheel once with ``pip download --no-deps
pose2sim==0.10.49 -d WHEELS`` and pass it with ``--wheel``.

Reference: in each scene one person, found as the one followed in every view for at least half of the clip
whose tracks triangulate best (``multi``: the woman in grey; the man on the treadmill is not followed in every
view by the front end the reference was placed with, so he is not scored; ``single``: the walking man). Their
2D in each view comes from the landmark network alone, with no front end ("careful 2D", :func:`careful_2d`):
per frame, crops placed from that first triangulation, turned to the body axis, at two sizes, each also seen
mirrored, the four landmark sets averaged; no detector, tracking or smoothing, so no front end being scored is
the reference's own. The 2D is undistorted and triangulated per frame and joint by weighted DLT (weights =
keypoint confidence); views whose reprojection error for a joint exceeds ``--max-reproj`` px are dropped and
the joint re-triangulated; a view whose left/right labels fit the other views better swapped has them swapped.
Its own quality is printed (reprojection per view, the views' mean signed offsets, bone-length variation). The
reference shares the landmark network (BlazePose) with both systems scored.

Each scene's reference is kept in ``benchmarks/data/realvideo_reference_{scene}.npz`` (``--rebuild-reference``
makes the careful 2D and its triangulation again; ``--new-placement`` also places the crops anew from this
run's tracks): every change is scored against a fixed target; in each view the scored track is the one closest
to the reference's projection. (Two other references were tried and dropped: the front end's own 2D
triangulated, which leaned towards the front end that built it — a view's own 2D is a quarter to a half of
its reference — and each view scored against a triangulation of the other three alone, which with cam01's
weaker calibration left cam04 of ``multi`` with 24 usable frames and put 40 px of calibration error into every
2D score.)

Scored per view, on that person: occlupose (``run_video`` + the default lifter), MediaPipe's legacy ``Pose``
(``pose_world_landmarks`` for 3D, ``pose_landmarks`` for 2D; single-person, so the frames where it follows
someone else are counted, not scored), and a constant mean pose (the training mocap's, upright, facing the
camera). 3D errors root-aligned in each camera's frame on the 14 joints whose definitions agree between
BlazePose and the mocap skeleton; spine, neck/nose and head top are reported apart.

Rerun: python benchmarks/realvideo.py --wheel WHEELS/pose2sim-0.10.49-py3-none-any.whl [--scenes multi single]
[--views 1 2 3 4] [--model CKPT [CKPT ...]] (several: one front-end pass, each lifter scored on it)
[--set FIELD=VALUE ...] (front-end settings, occlupose.pipeline.RunConfig) [--occlude legs] (a panel over the
person's legs) [--farther K] (each view shrunk K times into a grey frame of its size: small people) [--dump DIR]
(each view's 3D and 2D beside the reference, as .npz)
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
from occlusion_ids import hidden_copy  # this folder is on the path: run as a script, or as detector_errors does

from occlupose.data import load_mocap
from occlupose.deps import environment
from occlupose.detect import cv2_module
from occlupose.lifter import is_packaged, load_checkpoint
from occlupose.metrics import accel_error, mpjpe, n_mpjpe, p_mpjpe
from occlupose.multiview import Camera, read_qca, triangulate
from occlupose.pipeline import RunConfig, lift_tracks, track_video
from occlupose.skeleton import BONES, FLIP_PERMUTATION, to_h36m
from occlupose.trajectory import Intrinsics, intrinsics_for, trajectory
from occlupose.video import VideoWriter, probe, read_frames

#: scene -> folder of the pose2sim wheel; both share one calibration (the files are identical)
SCENES = {"multi": "Pose2Sim/Demo_MultiPerson", "single": "Pose2Sim/Demo_SinglePerson"}
#: joints whose BlazePose-derived definition differs from the mocap skeleton's
DIFFERENT = np.array([7, 9, 10])
WELL_DEFINED = np.setdiff1d(np.arange(17), DIFFERENT)
REFERENCE = str(Path(__file__).parent / "data" / "realvideo_reference_{scene}.npz")


def run_config(settings: list[str]) -> RunConfig:
    """RunConfig with FIELD=VALUE overrides of its scalar (and tuple: comma-separated) fields, each parsed as the
    field's default's type."""
    cfg = RunConfig()
    changes = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or key not in {f.name for f in dataclasses.fields(cfg)}:
            raise SystemExit(f"--set {item}: expected FIELD=VALUE with FIELD one of RunConfig's fields")
        old = getattr(cfg, key)
        if isinstance(old, bool):
            changes[key] = value.lower() in ("1", "true", "yes", "on")
        elif isinstance(old, (int, float)) and not isinstance(old, bool):
            changes[key] = type(old)(value)
        elif isinstance(old, tuple):  # e.g. world_depth=0.5,0.25,0 (or one value for every part)
            changes[key] = tuple(float(v) for v in value.split(","))
        else:
            changes[key] = value
    return dataclasses.replace(cfg, **changes)


def person_height(ref2: np.ndarray) -> float:
    """(n, 17, 2) the reference projected into a view -> the median span of its keypoints in height, px."""
    return float(np.nanmedian(ref2[..., 1].max(-1) - ref2[..., 1].min(-1)))


def pick_subject(cam: Camera, tracks, ref_world: np.ndarray, within: float = 0.25):
    """The track closest to the reference's projection (median px over the frames both cover), or None; a track
    further than ``within`` of the person's height from it is someone else (small people: when the subject is
    not found, the bystander is not scored in their place)."""
    ref2 = cam.project(ref_world)
    best = (within * person_height(ref2), None)
    for t in tracks:
        keep = t.frames < len(ref2)
        d = np.linalg.norm(t.keypoints_2d[keep] - ref2[t.frames[keep]], axis=-1)
        d = d[np.isfinite(d).all(-1)]
        if len(d) >= 0.25 * len(ref2) and np.median(d) < best[0]:
            best = (float(np.median(d)), t)
    return best[1]


def git_revision() -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def extract(wheel: Path, work: Path, demo: str) -> tuple[list[Path], Path]:
    """The demo's videos and calibration, copied out of the wheel once."""
    names = [f"{demo}/videos/cam0{i}.mp4" for i in range(1, 5)] + [f"{demo}/calibration/Calib.qca.txt"]
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
    """(T, 17, 3) world reference (NaN where < 2 views agree), per-view residuals, signed offsets, weights,
    swap counts."""
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
    xy = undistorted(cams, uv0)
    for _ in range(2):  # drop the views that disagree, triangulate again
        X = triangulate(xy, w, P)
        w = np.where(reproj(cams, X, uv0) > max_reproj, 0.0, w)
    X = triangulate(xy, w, P)
    return X, np.where(w > 0, reproj(cams, X, uv0), np.nan), uv0 - np.stack([c.project(X) for c in cams]), w, swaps


@dataclasses.dataclass
class Keypoints:
    """A person's 2D in one view, as the reference builder reads it: frames (T,), keypoints_2d (T, 17, 2),
    confidence (T, 17)."""

    frames: np.ndarray
    keypoints_2d: np.ndarray
    confidence: np.ndarray


#: the careful 2D: crop sizes (times MediaPipe's region) and mirror images, averaged
CAREFUL_SCALES = (1.0, 1.2)


def careful_2d(video: Path, cam: Camera, placement: np.ndarray, backend) -> Keypoints:
    """The person's 2D in every frame from the landmark network alone, with no front end: crops placed from the
    projection of a first triangulation (``placement`` (T, 17, 3) world), turned to the body's axis, at
    CAREFUL_SCALES, each also seen mirrored (left and right swapped back), the 2 x len(scales) landmark sets
    averaged. No tracking, no smoothing, no detector: what any front end is scored against should not be one."""
    from occlupose.pose2d import rois_from_alignment
    from occlupose.video import read_frames

    uv = cam.project(placement)
    frames, kps, confs = [], [], []
    for idx, _, frame in read_frames(video):
        if idx >= len(uv):
            break
        p = uv[idx]
        if not np.isfinite(p[[1, 4, 10]]).all():  # the crop needs the hips and the head only
            continue
        hip = (p[1] + p[4]) / 2
        top = hip + 1.15 * (p[10] - hip)  # MediaPipe's second alignment point sits a little above the head
        base = rois_from_alignment(hip[None], top[None])[0]
        rois = np.array([[*base[:2], base[2] * k, base[3]] for k in CAREFUL_SCALES])
        width = frame.shape[1]
        mirrored = rois.copy()
        mirrored[:, 0] = width - 1 - rois[:, 0]
        mirrored[:, 3] = -rois[:, 3]
        a = backend.estimate(frame, rois)
        b = backend.estimate(np.ascontiguousarray(frame[:, ::-1]), mirrored)
        kp_a, c_a = to_h36m(a.keypoints, a.confidence, backend.layout)
        kp_b, c_b = to_h36m(b.keypoints, b.confidence, backend.layout)
        kp_b[..., 0] = width - 1 - kp_b[..., 0]
        kp_b, c_b = kp_b[:, FLIP_PERMUTATION], c_b[:, FLIP_PERMUTATION]
        frames.append(idx)
        kps.append(np.concatenate([kp_a, kp_b]).mean(0))
        confs.append(np.concatenate([c_a, c_b]).mean(0))
    return Keypoints(np.array(frames, int), np.array(kps).reshape(-1, 17, 2), np.array(confs).reshape(-1, 17))


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
        axis = 1000 * np.abs(p - g).mean((0, 1)) if len(p) else np.full(3, np.nan)  # x, y, depth
        out.update(mpjpe=1000 * float(mpjpe(p, g)), p_mpjpe=1000 * float(p_mpjpe(p, g)),
                   n_mpjpe=1000 * float(n_mpjpe(p, g)), err_x_mm=axis[0], err_y_mm=axis[1], err_depth_mm=axis[2],
                   accel_3d_mm=1000 * accel_error(p3, g3, np.repeat(ok[:, None], len(joints), 1)))
    if pred2 is not None:
        out.update(err_2d_px=float(np.nanmean(np.linalg.norm(pred2[ok][:, joints] - ref2[ok][:, joints], axis=-1))),
                   accel_2d_px=float(np.nanmean(np.linalg.norm(np.diff(pred2[:, joints], 2, axis=0), axis=-1))))
    return out


#: ``--occlude legs``: the joints a panel in front of the scored person's legs is placed over
LEGS = np.array([1, 2, 3, 4, 5, 6])


def legs_panel(ref2: np.ndarray, size: tuple[int, int], share: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """A fixed grey panel in front of the person's legs for the middle ``share`` of the clip, as a desk, a car
    or a railing would stand: it spans their hips, knees and ankles over those frames (from the hips' median
    height, 10 % of their height wider on each side and below). ``ref2``: (n, 17, 2) the reference projected
    into the view. Returns the panel (x0, y0, x1, y1) in pixels and the (n,) frames it is there."""
    n = len(ref2)
    on = np.zeros(n, bool)
    on[int(n * (1 - share) / 2):int(n * (1 + share) / 2)] = True
    legs, body = ref2[on][:, LEGS], ref2[on][:, WELL_DEFINED]
    height = float(np.nanmedian(np.nanmax(body[..., 1], 1) - np.nanmin(body[..., 1], 1)))
    top = float(np.nanmedian(ref2[on][:, [1, 4], 1]))
    x0, x1 = np.nanmin(legs[..., 0]) - 0.1 * height, np.nanmax(legs[..., 0]) + 0.1 * height
    y1 = np.nanmax(legs[..., 1]) + 0.1 * height
    w, h = size
    return np.array([max(0.0, x0), max(0.0, top), min(float(w), x1), min(float(h), y1)]), on


def under_panel(ref2: np.ndarray, panel: np.ndarray, on: np.ndarray) -> np.ndarray:
    """(n, 17) joints whose reference projection the panel covers (in the frames it is there)."""
    x, y = ref2[..., 0], ref2[..., 1]
    inside = (x >= panel[0]) & (x <= panel[2]) & (y >= panel[1]) & (y <= panel[3])
    return inside & on[:, None]


def farther_copy(video: Path, dst: Path, factor: float) -> tuple[float, float, int, int]:
    """``video`` with each frame shrunk ``factor`` times into the middle of a grey frame of the same size: the
    scene as a camera with a ``factor`` times shorter lens sees it, so each person is ``factor`` times smaller
    (as if that much farther away, but with the near view's perspective). Returns the pixel map (sx, sy, ox, oy):
    new = old * s + o."""
    cv2 = cv2_module()
    info = probe(video)
    nw, nh = round(info.width / factor), round(info.height / factor)
    ox, oy = (info.width - nw) // 2, (info.height - nh) // 2
    if not dst.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        part = dst.with_suffix(".part.mp4")
        with VideoWriter(part, info.fps, info.width, info.height, crf=18) as w:
            for _, stamp, frame in read_frames(video):
                canvas = np.full_like(frame, 128)
                canvas[oy:oy + nh, ox:ox + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
                w.write(canvas, stamp)
        part.rename(dst)
    return nw / info.width, nh / info.height, ox, oy


def farther_camera(cam: Camera, sx: float, sy: float, ox: float, oy: float) -> Camera:
    """The calibration of a :func:`farther_copy`: the same lens distortion (in normalised coordinates), the
    intrinsics mapped to the shrunk frame's pixels."""
    A = np.array([[sx, 0.0, ox], [0.0, sy, oy], [0.0, 0.0, 1.0]])
    return dataclasses.replace(cam, K=A @ cam.K)


def score_hidden(pred3: np.ndarray, pred2: np.ndarray | None, ref_cam: np.ndarray, ref2: np.ndarray,
                 ok: np.ndarray, hidden: np.ndarray, front: tuple | None = None, focal: float = np.nan
                 ) -> dict[str, float]:
    """Errors on the hidden well-defined joints alone (``hidden`` (n, 17)), frames ``ok``: 3D root-aligned and
    after Procrustes alignment of the whole pose, 2D in px and in metres at the joint's depth (``focal`` px);
    with ``front`` = (reliable, C*) (n, 17) of a front end, the share of them the occlusion filter flagged
    missing (C* below b) and their mean C*."""
    sel = ok & hidden[:, WELL_DEFINED].any(1)
    m = hidden[sel][:, WELL_DEFINED]
    out: dict[str, float] = {"frames": int(sel.sum()), "joints": int(m.sum())}
    if not m.any():
        return out
    p = np.nan_to_num(pred3 - pred3[:, :1])[sel][:, WELL_DEFINED]
    g = np.nan_to_num(ref_cam - ref_cam[:, :1])[sel][:, WELL_DEFINED]
    out.update(mpjpe=1000 * mpjpe(p, g, m), p_mpjpe=1000 * p_mpjpe(p, g, m))
    if front is not None:
        trusted, conf = (a[sel][:, WELL_DEFINED][m] for a in front)
        out.update(flagged=100 * float((~trusted).mean()), conf=float(np.nanmean(conf)))
    if pred2 is not None:
        err = np.linalg.norm(pred2[sel][:, WELL_DEFINED] - ref2[sel][:, WELL_DEFINED], axis=-1)[m]
        out.update(err_2d_px=float(np.nanmean(err)),
                   err_2d_m=float(np.nanmean(err * ref_cam[sel][:, WELL_DEFINED, 2][m] / focal)))
    return out


def root_scores(track, cam: Camera, ref_cam: np.ndarray, frames: np.ndarray) -> dict[str, dict[str, float]]:
    """Where the scored person is (occlupose.trajectory) against the reference's pelvis in the view's camera
    frame, on ``frames``: placed with the calibrated focal length, and with the default assumed field of view."""
    n = len(ref_cam)
    out = {}
    w, h = cam.size
    for label, camera in (("calibrated focal", Intrinsics(float(cam.K[0, 0]), float(cam.K[0, 2]), float(cam.K[1, 2]))),
                          ("assumed field of view", intrinsics_for(w, h)[0])):
        root = np.full((n, 3), np.nan)
        keep = track.frames < n
        root[track.frames[keep]] = trajectory(track.poses_3d, track.keypoints_2d, track.confidence, track.times,
                                              camera)[keep]
        truth = ref_cam[:, 0]
        sel = frames & np.isfinite(root).all(-1)
        e = np.linalg.norm(root[sel] - truth[sel], axis=-1)
        dist = np.linalg.norm(truth[sel], axis=-1)
        out[label] = {"frames": int(sel.sum()), "root_mm": 1000 * float(e.mean()),
                      "pct_distance": 100 * float((e / dist).mean()),
                      "depth_pct": 100 * float((np.abs(root[sel, 2] - truth[sel, 2]) / truth[sel, 2]).mean()),
                      "distance_m": float(dist.mean()), "focal": camera.focal}
    return out


#: per view, where the scored person is (filled by run_scene, printed by main)
ROOT_ROWS: list[tuple[str, dict]] = []


def same_track(track, tracks: list):
    """The track of ``tracks`` (another lifter's, from the same front-end pass) with the same frames and 2D as
    ``track`` (two people can share every frame)."""
    if track is None:
        return None
    return next((t for t in tracks if np.array_equal(t.frames, track.frames)
                 and np.array_equal(t.keypoints_2d, track.keypoints_2d)), None)


def run_scene(scene: str, args, models: dict, cfg: RunConfig) -> list[tuple]:
    """Runs every view of one scene, prints its reference and per-view scores; returns the score rows
    (scene/view, system, well-defined joints, differing joints, head to head). ``models``: system name ->
    lifter, each lifting the same front-end pass; the first one's tracks place the scored person."""
    videos, calib = extract(Path(args.wheel), Path(args.work), SCENES[scene])
    cams = read_qca(calib)
    runs, lifted = [], []
    print(f"\n# Scene '{scene}' ({SCENES[scene]})")
    ref_path = Path(args.reference.format(scene=scene))
    panels: list[tuple[np.ndarray, np.ndarray]] = []
    if args.occlude:  # every system sees the same panelled copies; the reference is the frozen one
        if not ref_path.is_file() or args.rebuild_reference:
            raise SystemExit(f"--occlude scores against the frozen reference {ref_path}; build it without --occlude")
        with np.load(ref_path) as z:
            world = z["world"]
        for i, (v, cam) in enumerate(zip(videos, cams)):
            panel, on = legs_panel(cam.project(world), cam.size)
            panels.append((panel, on))
            copy = Path(args.work) / "occluded" / scene / v.name
            copy.parent.mkdir(parents=True, exist_ok=True)
            # occlusion_ids' grey panel, drawn on whole pixels, not grown
            hidden_copy(v, copy, dict.fromkeys(np.flatnonzero(on).tolist(), np.round(panel)), grow=0.0)
            videos[i] = copy
            print(f"{v.name}: panel over the legs {np.round(panel).astype(int).tolist()} px in frames "
                  f"{np.flatnonzero(on)[0]}-{np.flatnonzero(on)[-1]}")
    if args.farther > 1:  # every system sees the same shrunk copies; the reference is the frozen one
        if not ref_path.is_file() or args.rebuild_reference:
            raise SystemExit(f"--farther scores against the frozen reference {ref_path}; build it without --farther")
        with np.load(ref_path) as z:
            world = z["world"]
        for i, (v, cam) in enumerate(zip(videos, cams)):
            copy = Path(args.work) / f"farther{args.farther:g}" / scene / v.name
            cams[i] = farther_camera(cam, *farther_copy(v, copy, args.farther))
            videos[i] = copy
            height = person_height(cams[i].project(world))
            print(f"{v.name}: {args.farther:g} times smaller, the person's keypoints span {height:.0f} px in height "
                  f"(median) in a {cam.size[0]}x{cam.size[1]} frame")
    for v in videos:
        tracked = track_video(v, cfg, progress=False)
        by_model = {name: lift_tracks(tracked, m, cfg) for name, m in models.items()}
        r = next(iter(by_model.values()))
        runs.append(r)
        lifted.append(by_model)
        print(f"{v.name}: {len(r.tracks)} tracks, {r.frames} frames, front end {r.frames / r.front_end_seconds():.1f} "
              "frames/s")
    n = min(r.frames for r in runs)
    if args.rebuild_reference or not ref_path.is_file():
        placement, placed_by = None, git_revision()
        if ref_path.is_file() and not args.new_placement:  # keep where the crops go, redo the careful 2D
            with np.load(ref_path) as z:
                placement = z["placement"] if "placement" in z else z["world"]
                placed_by = str(z["placed_by"]) if "placed_by" in z else str(z["built_with"])
        if placement is None:
            subject = associate(cams, [r.tracks for r in runs], n)
            placement = reference(cams, subject, n, args.max_reproj)[0]
        from occlupose.pose2d import BlazePoseBackend, BlazePoseConfig

        backend = BlazePoseBackend(BlazePoseConfig(threads=cfg.threads))
        careful = [careful_2d(v, cam, placement, backend) for v, cam in zip(videos, cams)]
        X, res, signed, w, swaps = reference(cams, careful, n, args.max_reproj)
        ref_path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(ref_path, world=X, residual=res, signed=signed, weight=w, swaps=swaps,
                            placement=placement, placed_by=placed_by, built_with=git_revision(),
                            max_reproj=args.max_reproj)
        print(f"reference written to {ref_path}")
    with np.load(ref_path) as z:
        X, res, signed, w, swaps = z["world"], z["residual"], z["signed"], z["weight"], z["swaps"]
        built = f"careful 2D by {z['built_with']}, crops placed by the front end of {z['placed_by']}"
    n = min(n, len(X))
    X = X[:n]
    subject = [pick_subject(cam, r.tracks, X) for cam, r in zip(cams, runs)]
    ok = np.isfinite(X).all((-1, -2))
    print(f"\n## Reference ({ref_path.name}: {built}): {ok.sum()} of {n} frames with "
          "every joint seen by >= 2 views")
    print("| view | tracks | scored track | median reprojection px | mean offset px (x, y) | views kept | L/R swaps | "
          "reference 2D accel px |")
    print("|---|---|---|---|---|---|---|---|")
    for i in range(len(cams)):
        off = np.nanmedian(signed[i][w[i] > 0], 0)
        acc = np.nanmean(np.linalg.norm(np.diff(cams[i].project(X)[:, WELL_DEFINED], 2, axis=0), axis=-1))
        tid = subject[i].track_id if subject[i] is not None else "none"
        print(f"| {cams[i].name} | {len(runs[i].tracks)} | {tid} | {np.nanmedian(res[i]):.1f} | "
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
        systems = {}
        for k, (name, result) in enumerate(lifted[i].items()):
            t = subject[i] if k == 0 else same_track(subject[i], result.tracks)
            ours3 = np.full((n, 17, 3), np.nan)
            ours2 = np.full((n, 17, 2), np.nan)
            trusted = np.zeros((n, 17), bool)
            conf = np.full((n, 17), np.nan)
            if t is not None:
                keep = t.frames < n
                ours3[t.frames[keep]], ours2[t.frames[keep]] = t.poses_3d[keep], t.keypoints_2d[keep]
                trusted[t.frames[keep]], conf[t.frames[keep]] = t.reliable[keep], t.confidence[keep]
            have = ok & np.isfinite(ours3).all((-1, -2))
            if t is not None and k == 0:
                ROOT_ROWS.append((f"{scene}/{cam.name}", root_scores(t, cam, ref_cam, have)))
            systems[name] = (ours3, ours2, have, (trusted, conf))
        if not args.no_mediapipe:
            mp2, mp3 = run_mediapipe(videos[i])
            mp2, mp3 = mp2[:n], mp3[:n]
            dist = np.linalg.norm(mp2 - ref2, axis=-1)
            on_subject = np.isfinite(dist).all(-1) & (np.median(np.nan_to_num(dist, nan=1e9), -1) < 0.1 * cam.size[1])
            systems["MediaPipe"] = (mp3, mp2, ok & on_subject, None)
        systems["mean pose"] = (np.repeat(mean_pose_in_camera(cam)[None], n, 0), None, ok, None)
        common = np.logical_and.reduce([fr for _, _, fr, _ in systems.values()])
        hidden = under_panel(ref2, *panels[i]) if panels else np.zeros((n, 17), bool)
        for name, (p3, p2, frames, front) in systems.items():
            rows.append((f"{scene}/{cam.name}", name, score(p3, p2, ref_cam, ref2, frames, WELL_DEFINED),
                         score(p3, None, ref_cam, ref2, frames, DIFFERENT),
                         score(p3, p2, ref_cam, ref2, common, WELL_DEFINED),
                         score_hidden(p3, p2, ref_cam, ref2, common, hidden, front, float(cam.K[0, 0]))))
        if args.dump:  # each system's 3D and 2D beside the reference, for analysis beyond these tables
            Path(args.dump).mkdir(parents=True, exist_ok=True)
            arrays = {f"{name}_{kind}": a for name, (p3, p2, _, _) in systems.items()
                      for kind, a in (("3d", p3), ("2d", p2)) if a is not None}
            np.savez_compressed(Path(args.dump) / f"{scene}_{cam.name}.npz", ref_3d=ref_cam, ref_2d=ref2,
                                frames=common, **arrays)
    print_rows(rows, f"Scores on scene '{scene}'")
    return rows


def print_rows(rows: list[tuple], title: str) -> None:
    print(f"\n## {title} (14 well-defined joints; 3D root-aligned in the view's camera frame)")
    print("| view | system | frames | 2D px | 2D accel px | MPJPE | P-MPJPE | N-MPJPE | accel mm | "
          "MPJPE spine/neck/head |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for view, name, s, d, *_ in rows:
        print(f"| {view} | {name} | {s['frames']} | {s.get('err_2d_px', np.nan):.1f} | "
              f"{s.get('accel_2d_px', np.nan):.1f} | {s.get('mpjpe', np.nan):.0f} | {s.get('p_mpjpe', np.nan):.0f} | "
              f"{s.get('n_mpjpe', np.nan):.0f} | {s.get('accel_3d_mm', np.nan):.1f} | {d.get('mpjpe', np.nan):.0f} |")


def print_means(rows: list[tuple], where: str) -> None:
    for title, col in (("each on the frames it returned for the person", 2),
                       ("head to head: only the frames every system returned for the person", 4)):
        print(f"\n### Mean over {where}, {title}\n")
        print("| system | views | 2D px | 2D accel px | MPJPE | P-MPJPE | N-MPJPE | accel mm | frames |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name in dict.fromkeys(r[1] for r in rows):
            sel = [r[col] for r in rows if r[1] == name and r[col]["frames"] > 2]
            m = {k: np.mean([s.get(k, np.nan) for s in sel]) for k in
                 ("err_2d_px", "accel_2d_px", "mpjpe", "p_mpjpe", "n_mpjpe", "accel_3d_mm")}
            frames = sum(s["frames"] for s in sel)
            print(f"| {name} | {len(sel)} | {m['err_2d_px']:.1f} | {m['accel_2d_px']:.1f} | {m['mpjpe']:.1f} | "
                  f"{m['p_mpjpe']:.1f} | {m['n_mpjpe']:.1f} | {m['accel_3d_mm']:.1f} | {frames} |")
    print(f"\n### Mean over {where}: root-aligned 3D error along each axis of the camera frame, each on its frames\n")
    print("| system | views | x mm (right) | y mm (down) | depth mm |")
    print("|---|---|---|---|---|")
    for name in dict.fromkeys(r[1] for r in rows):
        sel = [r[2] for r in rows if r[1] == name and r[2]["frames"] > 2]
        m = {k: np.mean([s.get(k, np.nan) for s in sel]) for k in ("err_x_mm", "err_y_mm", "err_depth_mm")}
        print(f"| {name} | {len(sel)} | {m['err_x_mm']:.0f} | {m['err_y_mm']:.0f} | {m['err_depth_mm']:.0f} |")
    if not any(r[5]["joints"] for r in rows):
        return
    print(f"\n### Mean over {where}: the joints under the panel alone (--occlude), head to head\n")
    print("| system | views | 2D px | 2D m at the subject | C* | flagged missing % | MPJPE | "
          "P-MPJPE (whole pose aligned) | joint-frames |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r[1] for r in rows):
        sel = [r[5] for r in rows if r[1] == name and r[5]["joints"]]
        m = {k: np.mean([s.get(k, np.nan) for s in sel])
             for k in ("err_2d_px", "err_2d_m", "conf", "flagged", "mpjpe", "p_mpjpe")}
        print(f"| {name} | {len(sel)} | {m['err_2d_px']:.1f} | {m['err_2d_m']:.3f} | {m['conf']:.2f} | "
              f"{m['flagged']:.0f} | {m['mpjpe']:.0f} | {m['p_mpjpe']:.0f} | {sum(s['joints'] for s in sel)} |")


def system_names(ckpts: list[str | None]) -> list[str]:
    """"occlupose", or with several lifters "occlupose RUN" (a packaged model's name, or the checkpoint's
    folder, e.g. default-s0, with the folders above it where two share that name)."""
    if len(ckpts) == 1:
        return ["occlupose"]

    def name(c, depth: int) -> str:
        if not c:
            return "shipped"
        if is_packaged(c):
            return c
        return str(Path(*Path(c).parent.parts[-depth:]))

    names = [name(c, 1) for c in ckpts]
    for depth in range(2, 8):  # as many folders above as it takes to tell the runs apart
        names = [name(c, depth) if names.count(n) > 1 else n for c, n in zip(ckpts, names)]
    return [f"occlupose {n}" for n in names]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", required=True, help="pose2sim-*.whl (pip download --no-deps pose2sim==0.10.49)")
    ap.add_argument("--work", default="/tmp/occlupose-realvideo", help="where the demo files are extracted")
    ap.add_argument("--views", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--max-reproj", type=float, default=40.0, help="px above which a view is dropped for a joint")
    ap.add_argument("--no-mediapipe", action="store_true")
    ap.add_argument("--model", nargs="+", default=[None],
                    help="lifter checkpoints to score on one front-end pass (default: the shipped model)")
    ap.add_argument("--set", nargs="+", action="extend", default=[], metavar="FIELD=VALUE",
                    help="front-end settings (occlupose.pipeline.RunConfig fields), e.g. smoothing=none")
    ap.add_argument("--occlude", choices=["legs"],
                    help="score on copies of the views with a grey panel in front of the person's legs for the "
                         "middle 60 %% of the clip (the joints under it are also scored apart)")
    ap.add_argument("--farther", type=float, default=1.0, metavar="K",
                    help="score on copies of the views shrunk K times into the middle of a grey frame of the same "
                         "size: small people (2D px are then the shrunk frame's)")
    ap.add_argument("--scenes", nargs="+", choices=list(SCENES), default=list(SCENES),
                    help="multi: the woman in grey beside the treadmill (the man there is not followed in every "
                         "view); single: the man walking across the platform")
    ap.add_argument("--reference", default=REFERENCE, help="the frozen 3D reference of each scene ({scene}: its name)")
    ap.add_argument("--rebuild-reference", action="store_true",
                    help="make the careful 2D and its triangulation again (crops placed as the existing file's)")
    ap.add_argument("--new-placement", action="store_true",
                    help="with --rebuild-reference: place the crops by a triangulation of this run's tracks")
    ap.add_argument("--dump", metavar="DIR",
                    help="write DIR/{scene}_{view}.npz: the reference (camera frame, m; projected, px), each "
                         "system's (n, 17, 3) and (n, 17, 2) (NaN where it returned none) and the frames scored "
                         "head to head")
    args = ap.parse_args()
    if args.farther > 1 and args.occlude:
        raise SystemExit("--farther and --occlude: one at a time")
    if not args.farther >= 1:
        raise SystemExit(f"--farther {args.farther:g}: need K >= 1")
    t0 = time.time()
    print(f"environment: {environment()}")  # the numbers move with the machine and these packages
    models = {name: load_checkpoint(ckpt).model for name, ckpt in zip(system_names(args.model), args.model)}
    cfg = run_config(args.set)
    rows = []
    for scene in args.scenes:
        scene_rows = run_scene(scene, args, models, cfg)
        print_means(scene_rows, f"the views of scene '{scene}'")
        rows += scene_rows
    if len(args.scenes) > 1:
        print_means(rows, "every view of every scene")
    print("\n## Where the person is (occlupose.trajectory): the pelvis against the reference's, camera frame\n")
    print("| view | camera | focal px | distance m | root error mm | % of distance | depth error % | frames |")
    print("|---|---|---|---|---|---|---|---|")
    for view, by in ROOT_ROWS:
        for label, r in by.items():
            print(f"| {view} | {label} | {r['focal']:.0f} | {r['distance_m']:.2f} | {r['root_mm']:.0f} | "
                  f"{r['pct_distance']:.1f} | {r['depth_pct']:.1f} | {r['frames']} |")
    for label in ("calibrated focal", "assumed field of view"):
        sel = [by[label] for _, by in ROOT_ROWS if by[label]["frames"]]
        print(f"| mean of {len(sel)} views | {label} | | | {np.mean([r['root_mm'] for r in sel]):.0f} | "
              f"{np.mean([r['pct_distance'] for r in sel]):.1f} | {np.mean([r['depth_pct'] for r in sel]):.1f} | "
              f"{sum(r['frames'] for r in sel)} |")
    sets = (" --set " + " ".join(args.set)) if args.set else ""
    sets += f" --occlude {args.occlude}" if args.occlude else ""
    sets += f" --farther {args.farther:g}" if args.farther > 1 else ""
    sets += (" --scenes " + " ".join(args.scenes)) if args.scenes != list(SCENES) else ""
    sets += " --no-mediapipe" if args.no_mediapipe else ""
    given = (" --model " + " ".join(args.model)) if args.model != [None] else ""
    print(f"\n{time.time() - t0:.0f} s. rerun: python benchmarks/realvideo.py --wheel {args.wheel}{given}{sets}")

if __name__ == "__main__":
    main()
