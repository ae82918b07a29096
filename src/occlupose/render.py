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
