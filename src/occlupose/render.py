"""Pictures: the Cylinder Man seen from virtual views, joints coloured by visibility."""

from __future__ import annotations

import numpy as np

from .cylinder import CYL_END, CYL_START, CylinderConfig, radii, visibility
from .skeleton import BONES


def cylinder_views_png(pose_world: np.ndarray, rotations: np.ndarray, path: str, titles: list[str] | None = None,
                       cfg: CylinderConfig = CylinderConfig()) -> np.ndarray:
    """Draw one (17, 3) world pose from each (V, 3, 3) camera rotation (orthographic) to ``path``.

    Cylinders are drawn far to near as their projected silhouettes; visible joints green, occluded red.
    Returns the (V, 17) visibility that was drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from matplotlib.patches import Polygon

    centred = pose_world - pose_world[:1]
    cams = np.einsum("vij,nj->vni", rotations, centred)  # (V, 17, 3)
    vis = visibility(cams.astype(np.float32), cfg)
    r = radii(torch.as_tensor(cams), cfg).numpy()  # (V, 10)
    n = len(rotations)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 4.2))
    axes = np.atleast_1d(axes)
    for v, ax in enumerate(axes):
        p = cams[v]
        a, b = p[CYL_START], p[CYL_END]
        order = np.argsort(-(a[:, 2] + b[:, 2]))  # far first
        for c in order:
            d = b[c, :2] - a[c, :2]
            ln = np.linalg.norm(d)
            perp = np.array([-d[1], d[0]]) / ln if ln > 1e-9 else np.array([1.0, 0.0])
            axis3 = b[c] - a[c]
            ext = r[v, c] * abs(axis3[2]) / max(np.linalg.norm(axis3), 1e-9)
            along = d / ln if ln > 1e-9 else np.array([0.0, 1.0])
            a2, b2 = a[c, :2] - along * ext, b[c, :2] + along * ext
            w = perp * r[v, c]
            quad = np.array([a2 + w, b2 + w, b2 - w, a2 - w])
            ax.add_patch(Polygon(quad, closed=True, facecolor="#9ab7d3", edgecolor="#3d5a80", alpha=0.85,
                                 zorder=1 + (order.tolist().index(c))))
        for i, j in BONES:
            ax.plot(p[[i, j], 0], p[[i, j], 1], color="#222222", lw=1, zorder=40)
        colors = np.where(vis[v], "#1a9850", "#d73027")
        ax.scatter(p[:, 0], p[:, 1], c=colors, s=28, zorder=50, edgecolors="white", linewidths=0.6)
        ax.set_aspect("equal")
        ax.invert_yaxis()  # camera y points down
        ax.set_xticks([])
        ax.set_yticks([])
        if titles:
            ax.set_title(titles[v], fontsize=9)
    fig.suptitle("Cylinder Man: green visible, red occluded (Eq. 7)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return vis


def lift_strip_png(keypoints_2d: np.ndarray, reliable: np.ndarray, poses_3d: np.ndarray, path: str,
                   n_frames: int = 5, gt_3d: np.ndarray | None = None) -> None:
    """A picture of a lifted sequence: n evenly spaced frames, 2D input on top (missing keypoints as red
    rings), the 3D result below (camera frame seen from the side-front; ground truth dashed when given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .camera import rot_y

    t = len(poses_3d)
    frames = np.linspace(0, t - 1, min(n_frames, t)).round().astype(int)
    fig = plt.figure(figsize=(2.6 * len(frames), 5.6))
    turn = rot_y(np.array(np.radians(35.0)))  # look at the camera-frame pose from 35 degrees to the side
    lim = np.abs(poses_3d).max() * 1.05
    for i, f in enumerate(frames):
        ax = fig.add_subplot(2, len(frames), i + 1)
        kp, rel = keypoints_2d[f], reliable[f]
        for a, b in BONES:
            if rel[a] and rel[b]:
                ax.plot(kp[[a, b], 0], kp[[a, b], 1], color="#333333", lw=1.2)
        ax.scatter(kp[rel, 0], kp[rel, 1], s=14, c="#1a9850", zorder=3)
        ax.scatter(kp[~rel, 0], kp[~rel, 1], s=30, facecolors="none", edgecolors="#d73027", zorder=3)
        ax.set_aspect("equal")
        ax.invert_yaxis()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"frame {f}: {int((~rel).sum())} missing", fontsize=8)
        ax3 = fig.add_subplot(2, len(frames), len(frames) + i + 1)
        for pose, style, color in [(gt_3d, "--", "#999999"), (poses_3d, "-", "#3d5a80")]:
            if pose is None:
                continue
            p = pose[f] @ turn.T
            for a, b in BONES:
                ax3.plot(p[[a, b], 0], p[[a, b], 1], style, color=color, lw=1.6)
        ax3.set_xlim(-lim, lim)
        ax3.set_ylim(lim, -lim)
        ax3.set_aspect("equal")
        ax3.set_xticks([])
        ax3.set_yticks([])
        if i == 0:
            ax3.set_title("3D (turned 35 deg)" + (", truth dashed" if gt_3d is not None else ""), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- the video of a run: 2D overlay beside a rotating 3D view -----------------------------------------

TRACK_COLOURS = np.array([(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (204, 121, 167),
                           (213, 94, 0), (0, 114, 178), (255, 255, 255)], np.uint8)  # RGB, colour-blind safe
_SIDE = np.zeros(len(BONES), int)  # 0 centre, 1 left, 2 right (by the bone's child joint)
_SIDE[np.isin(BONES[:, 1], [4, 5, 6, 11, 12, 13])] = 1
_SIDE[np.isin(BONES[:, 1], [1, 2, 3, 14, 15, 16])] = 2
_SIDE_COLOURS = [(235, 235, 235), (90, 200, 255), (255, 150, 60)]
MISSING_COLOUR = (230, 40, 40)


def _polylines(cv2, img: np.ndarray, pts: np.ndarray, bones: np.ndarray, colour, thickness: int) -> None:
    if len(bones):
        segs = np.round(pts[bones]).astype(np.int32)  # (B, 2, 2)
        cv2.polylines(img, list(segs), False, colour, thickness, cv2.LINE_AA)


def draw_pose_2d(img: np.ndarray, kp: np.ndarray, reliable: np.ndarray, colour, label: str | None = None) -> None:
    """Skeleton on an RGB image in place: bones between reliable joints by body side, reliable joints as dots
    in the person's colour, missing (occluded) joints as red rings."""
    import cv2

    size = float(np.ptp(kp[:, 1])) if len(kp) else 0.0
    th = max(1, int(round(size / 90)))
    ok = reliable[BONES[:, 0]] & reliable[BONES[:, 1]]
    for side in range(3):
        _polylines(cv2, img, kp, BONES[ok & (_SIDE == side)], _SIDE_COLOURS[side], th)
    r = max(2, th + 1)
    for (x, y), rel in zip(np.round(kp).astype(int), reliable):  # drawing calls, one per joint
        if rel:
            cv2.circle(img, (int(x), int(y)), r, tuple(int(c) for c in colour), -1, cv2.LINE_AA)
        else:
            cv2.circle(img, (int(x), int(y)), r + 2, MISSING_COLOUR, max(1, th), cv2.LINE_AA)
    if label:
        x, y = np.round(kp[:, 0].min()), np.round(kp[:, 1].min()) - 6
        cv2.putText(img, label, (int(x), int(max(y, 12))), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    tuple(int(c) for c in colour), 1, cv2.LINE_AA)


def draw_pose_3d(img: np.ndarray, pose: np.ndarray, centre: tuple[float, float], px_per_m: float, angle: float,
                 colour, offset: np.ndarray | None = None, tilt: float = 0.0) -> None:
    """A (17, 3) camera-frame pose (y down) turned by ``angle`` about the vertical axis, then tilted by ``tilt``
    (seen from above), drawn orthographically on ``img`` with its pelvis at ``centre`` plus ``offset`` (3,)
    metres (where the person is in a shared scene), with a ground shadow under the feet."""
    import cv2

    from .camera import rot_x, rot_y

    rot = rot_x(np.array(tilt)) @ rot_y(np.array(angle))
    at = np.zeros(3) if offset is None else np.asarray(offset, np.float64)
    rel = pose - pose[:1]
    p = (rel + at) @ rot.T
    pts = p[:, :2] * px_per_m + np.asarray(centre)
    foot = (at + [0.0, rel[:, 1].max(), 0.0]) @ rot.T * px_per_m + [*centre, 0.0]
    cv2.ellipse(img, (int(foot[0]), int(foot[1])), (int(0.35 * px_per_m), max(1, int(0.08 * px_per_m))), 0, 0, 360,
                (70, 70, 70), 1, cv2.LINE_AA)
    th = max(2, int(round(px_per_m / 120)))
    for side in range(3):
        _polylines(cv2, img, pts, BONES[_SIDE == side], _SIDE_COLOURS[side], th)
    cv2.circle(img, (int(pts[10, 0]), int(pts[10, 1])), th + 2, tuple(int(c) for c in colour), -1, cv2.LINE_AA)


def scene_extent(roots: np.ndarray) -> tuple[np.ndarray, float]:
    """(centre (3,), radius m) of (N, 3) roots in the camera frame: the median place, and the ground distance
    from it within which 90 % of them lie, plus a metre (a far straggler may leave the view rather than shrink
    everyone else)."""
    centre = np.median(roots, 0)
    return centre, float(np.percentile(np.linalg.norm((roots - centre)[:, [0, 2]], axis=-1), 90)) + 1.0


def _scene(tracks) -> tuple[np.ndarray, float] | None:
    """:func:`scene_extent` of everyone's roots over the clip, when every track has one."""
    if not tracks or any(t.root is None or not np.isfinite(t.root).all() for t in tracks):
        return None
    return scene_extent(np.concatenate([np.asarray(t.root, np.float64) for t in tracks]))


def render_run(video_path, result, out_path, spin_seconds: float = 8.0, progress: bool = True) -> None:
    """Write ``render.mp4``: each frame of the processed range with every person's 2D skeleton (occluded
    joints as red rings) and, beside it, their 3D poses in a view that turns once every ``spin_seconds``: one
    shared scene with everyone where they are (seen from a little above) when the tracks have roots, else
    each person beside the others."""
    import cv2

    from .video import VideoWriter, read_frames

    info = result.video
    h, w = info.height, info.width
    panel = h  # a square 3D panel as tall as the video
    first, last = result.frame_range
    rows = [{int(f): i for i, f in enumerate(t.frames)} for t in result.tracks]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=last - first, unit="frame", desc="render", dynamic_ncols=True)
    fps = result.fps
    scene = _scene(result.tracks)
    scene_px_per_m = panel * 0.45 / scene[1] if scene is not None else None
    with VideoWriter(out_path, fps, w + panel, h) as writer:
        for idx, stamp, frame in read_frames(video_path, first, last):
            canvas = np.zeros((h, w + panel, 3), np.uint8)
            canvas[:, :w] = frame
            canvas[:, w:] = 24
            angle = 2 * np.pi * (idx - first) / (spin_seconds * fps)
            present = [(k, rows[k][idx]) for k in range(len(rows)) if idx in rows[k]]
            n = max(len(present), 1)
            px_per_m = panel / max(2.4, 1.2 * n)
            order = sorted(present, key=lambda kr: result.tracks[kr[0]].keypoints_2d[kr[1], 0, 0])
            for slot, (k, r) in enumerate(order):
                t = result.tracks[k]
                colour = TRACK_COLOURS[t.track_id % len(TRACK_COLOURS)]
                draw_pose_2d(canvas[:, :w], t.keypoints_2d[r], t.reliable[r], colour, f"#{t.track_id}")
                if scene is None:
                    centre = (w + panel * (slot + 0.5) / n, h * 0.45)
                    draw_pose_3d(canvas, t.poses_3d[r], centre, px_per_m, angle, colour)
                else:
                    draw_pose_3d(canvas, t.poses_3d[r], (w + panel / 2, h * 0.5), scene_px_per_m, angle, colour,
                                 offset=t.root[r] - scene[0], tilt=0.35)
            cv2.putText(canvas, f"frame {idx}  people {len(present)}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 255), 1, cv2.LINE_AA)
            cv2.putText(canvas, "3D (turning view)" if scene is None else "3D scene, people where they are",
                        (w + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 200, 200),
                        1, cv2.LINE_AA)
            writer.write(canvas, stamp)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
