"""Write examples/dribble_2d.npz: a 2D track in the project's input layout, made from a *test-subject* mocap clip.

The clip (S06/06_12, basketball dribble with turns and a crossover, not seen in training) is filmed by a
virtual 640x480 pinhole camera (focal 600 px), and the 2D keypoints and confidences come from the project's
detector model (augment.py): jitter on visible joints, wrong guesses with lower, noisy confidence on occluded
ones. It is saved at 25 fps (the model works at 50 and resamples). The camera-frame 3D truth is stored beside
the 2D (`gt_poses_3d`) so the lifted result can be checked.

Rerun: python examples/make_example.py
"""

from pathlib import Path

import numpy as np

from occlupose.augment import AugmentConfig, Augmenter
from occlupose.data import load_mocap, save_input_2d

CLIP, FOCAL, W, H = "S06/06_12", 600.0, 640, 480


def main() -> None:
    mocap = load_mocap()
    world = mocap.clips[CLIP][None]
    rng = np.random.default_rng(2019)
    batch = Augmenter(AugmentConfig(perspective_prob=1.0, min_distance=5.0, max_distance=5.0))(rng, world)
    step = 2  # 50 -> 25 fps
    px = batch.det_2d[0, ::step] * FOCAL + np.array([W / 2, H / 2])
    out = Path(__file__).with_name("dribble_2d.npz")
    save_input_2d(out, px, batch.conf[0, ::step], W, H, mocap.fps / step, focal=FOCAL)
    with np.load(out) as z:
        arrays = dict(z)
    np.savez_compressed(out, **arrays, gt_poses_3d=batch.poses_3d[0, ::step], occluded=batch.occluded[0, ::step])
    print(f"wrote {out}: {len(px)} frames at {mocap.fps / step:g} fps, "
          f"{100 * batch.occluded[0].mean():.1f}% joints occluded, "
          f"{100 * (1 - batch.reliable[0].mean()):.1f}% below the 0.3 threshold")


if __name__ == "__main__":
    main()
