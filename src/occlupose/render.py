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
