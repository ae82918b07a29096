"""What the real 2D front end does with visible and hidden joints, next to the synthetic detector the lifter is
trained on (``augment.DetectorConfig``): the calibration issue 13 asks for.

On the real-video benchmark (benchmarks/realvideo.py: 2 scenes x 4 calibrated views, its frozen reference),
each view's raw keypoints of the scored person (before smoothing) are compared with the reference projected
into that view. A joint is *hidden* where the Cylinder Man model (Sec. 4) of the reference, seen from that
camera, says so. Errors are metres at the subject (pixel error / focal x the person's depth), the unit the
synthetic detector is written in. The reference is itself BlazePose 2D triangulated over 4 views, so the
visible-joint error includes the reference's own noise (8-16 px median reprojection): read it as an upper
bound; hidden joints are mostly seen by other views, so their reference is better than the view's guess.

Rerun: python benchmarks/detector_errors.py --wheel WHEELS/pose2sim-0.10.49-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import realvideo as rv  # noqa: E402

from occlupose.augment import DetectorConfig  # noqa: E402
from occlupose.cylinder import visibility  # noqa: E402
from occlupose.multiview import read_qca  # noqa: E402
from occlupose.pipeline import RunConfig, track_video  # noqa: E402
from occlupose.skeleton import FLIP_PERMUTATION  # noqa: E402


def view_errors(video: Path, cam, X: np.ndarray, cfg: RunConfig) -> dict[str, np.ndarray] | None:
    """Per frame and joint of the scored person: error (T, 17, 2) metres, confidence (T, 17), hidden (T, 17),
    error to the mirrored twin (T, 17) metres, seen (T, 17); None when no track is the person."""
    _, tracks, *_ = track_video(video, cfg, progress=False)
    people = [rv.Keypoints(np.asarray(t.frames), np.array([d.keypoints for d in t.detections]),
                           np.array([d.scores for d in t.detections])) for t in tracks]
    person = rv.pick_subject(cam, people, X)
    if person is None:
        return None
    n = len(X)
    keep = person.frames < n
    frames = person.frames[keep]
    xc = cam.to_camera(X)  # (T, 17, 3) metres, camera frame
    truth = xc[..., :2] / xc[..., 2:3]
    det = np.full((n, 17, 2), np.nan)
    conf = np.full((n, 17), np.nan)
    det[frames] = cam.undistort(person.keypoints_2d[keep])
    conf[frames] = person.confidence[keep]
    depth = xc[:, :1, 2:3]  # the root's depth: metres at the subject, as augment.py writes its detector
    ok = np.isfinite(xc).all((-1, -2)) & np.isfinite(det).all((-1, -2))
    hidden = np.zeros((n, 17), bool)
    hidden[ok] = ~visibility(xc[ok].astype(np.float32), perspective=True)
    err = (det - truth) * depth
    twin = np.linalg.norm(det - truth[:, FLIP_PERMUTATION], axis=-1) * depth[..., 0]
    return dict(err=err[ok], conf=conf[ok], hidden=hidden[ok], twin=twin[ok], frames=np.flatnonzero(ok))


def lag1(err: np.ndarray, frames: np.ndarray, mask: np.ndarray) -> float:
    """Correlation of a joint's error between consecutive frames where it is visible in both."""
    nxt = np.flatnonzero(np.diff(frames) == 1)
    both = mask[nxt] & mask[nxt + 1]
    a, b = err[nxt][both], err[nxt + 1][both]
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) if len(a) > 2 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", required=True, help="pose2sim-*.whl (pip download --no-deps pose2sim==0.10.49)")
    ap.add_argument("--work", default="/tmp/occlupose-realvideo")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    cfg = RunConfig(threads=args.threads)
    parts = []
    for scene, demo in rv.SCENES.items():
        videos, calib = rv.extract(Path(args.wheel), Path(args.work), demo)
        cams = read_qca(calib)
        with np.load(rv.REFERENCE.format(scene=scene)) as z:
            X = z["world"]
        for video, cam in zip(videos, cams):
            e = view_errors(video, cam, X, cfg)
            if e is not None:
                parts.append(e)
                print(f"{scene}/{cam.name}: {len(e['frames'])} frames, {100 * e['hidden'].mean():.0f} % joints hidden")
    vis_err, vis_conf, lags, vis_mirror = [], [], [], []
    hid_err, hid_conf, mirror = [], [], []
    has_twin = FLIP_PERMUTATION != np.arange(17)
    for e in parts:
        v, h = ~e["hidden"], e["hidden"]
        vis_err.append(e["err"][v])
        vis_conf.append(e["conf"][v])
        vis_mirror.append((e["twin"] < np.linalg.norm(e["err"], axis=-1))[v & has_twin[None]])
        lags.append(lag1(e["err"], e["frames"], v))
        hid_err.append(np.linalg.norm(e["err"], axis=-1)[h])
        hid_conf.append(e["conf"][h])
        own = np.linalg.norm(e["err"], axis=-1)
        mirror.append((e["twin"] < own)[h & has_twin[None]])
    vis_err, vis_conf = np.concatenate(vis_err), np.concatenate(vis_conf)
    hid_err, hid_conf, mirror = np.concatenate(hid_err), np.concatenate(hid_conf), np.concatenate(mirror)
    vis_mirror = np.concatenate(vis_mirror)
    d = DetectorConfig()
    robust = 1.4826 * np.median(np.abs(vis_err - np.median(vis_err, 0)), 0).mean()
    print(f"\n{len(vis_conf)} visible and {len(hid_conf)} hidden joint-frames over {len(parts)} views\n")
    print("| quantity | real front end (BlazePose) | synthetic detector (augment.DetectorConfig) |")
    print("|---|---|---|")
    rms = np.sqrt((vis_err ** 2).mean())
    print(f"| visible: error per coordinate, m at the subject (RMS / robust sigma) | {rms:.3f} / {robust:.3f} | "
          f"visible_sigma {d.visible_sigma} |")
    print(f"| visible: frame-to-frame correlation of the error | {np.nanmean(lags):.2f} | "
          f"visible_corr {d.visible_corr} |")
    print(f"| visible: confidence mean (std) | {vis_conf.mean():.2f} ({vis_conf.std():.2f}) | visible_conf "
          f"{d.visible_conf} (conf_std {d.conf_std}) |")
    print(f"| visible: share with confidence < 0.3 | {(vis_conf < 0.3).mean():.3f} | miss_prob {d.miss_prob} |")
    print(f"| visible: share nearer the mirrored twin than the joint (left/right swaps) | {vis_mirror.mean():.3f} | "
          f"swap_prob {d.swap_prob} per window and pair |")
    print(f"| hidden: error, m at the subject (median / mean) | {np.median(hid_err):.3f} / {hid_err.mean():.3f} | "
          f"offset sigma {d.occluded_offset_sigma} per coordinate (median ~{1.1774 * d.occluded_offset_sigma:.3f}) |")
    print(f"| hidden: share nearer the mirrored twin than the joint | {mirror.mean():.2f} | "
          f"mirror_prob {d.mirror_prob} |")
    print(f"| hidden: confidence mean (std) | {hid_conf.mean():.2f} ({hid_conf.std():.2f}) | occluded_conf "
          f"{d.occluded_conf} |")
    print(f"| hidden: share with confidence >= 0.3 | {(hid_conf >= 0.3).mean():.2f} | - |")
    print(f"\nrerun: python benchmarks/detector_errors.py --wheel {args.wheel}")


if __name__ == "__main__":
    main()
