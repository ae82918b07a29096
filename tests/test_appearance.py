import numpy as np
import pytest

from occlupose.appearance import REGIONS, describe, distance, sample_points, typical
from occlupose.skeleton import FLIP_PERMUTATION


def standing(cx: float, top: float = 10.0, h: float = 80.0) -> np.ndarray:
    """(17, 2) H36M keypoints of an upright person ``h`` px tall, shoulders 20 px wide, hips 12 px."""
    kp = np.zeros((17, 2))
    kp[:, 0] = cx
    y = {0: 0.5, 1: 0.5, 4: 0.5, 2: 0.75, 5: 0.75, 3: 1.0, 6: 1.0, 7: 0.4, 8: 0.25, 9: 0.15, 10: 0.0,
         11: 0.25, 14: 0.25, 12: 0.4, 15: 0.4, 13: 0.5, 16: 0.5}
    for j, v in y.items():
        kp[j, 1] = top + v * h
    kp[[11, 12, 13], 0] += 10  # left side on the image's right (facing the camera)
    kp[[14, 15, 16], 0] -= 10
    kp[4, 0] += 6
    kp[1, 0] -= 6
    return kp


def test_colours_read_are_the_clothes_and_the_distance_is_hand_computable():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, :100] = 255  # the first person stands on white: all of them reads white
    frame[55:, 100:] = (0, 0, 255)  # the second wears black above and blue below the hips
    d = describe(frame, np.stack([standing(50), standing(150)]))
    assert d.shape == (2, len(REGIONS), 3)
    # OpenCV's 8-bit Lab: white is L 255, a = b = 128; black L 0, a = b = 128
    np.testing.assert_allclose(d[0], [[255, 128, 128]] * 3)
    np.testing.assert_allclose(d[1, 0], [0, 128, 128])
    assert d[1, 1, 2] < 60 and d[1, 2, 2] < 60  # blue: b far below neutral
    # white against black torsos: lightness alone, weighted by one half
    assert distance(d[0, :1], d[1, :1]) == pytest.approx(0.5 * 255)
    assert distance(d[0], d[0]) == 0.0


def test_left_and_right_swapped_read_the_same_and_regions_outside_the_frame_are_unknown():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (100, 200, 3), dtype=np.uint8)
    kp = standing(60)
    flipped = kp[FLIP_PERMUTATION]
    np.testing.assert_allclose(describe(frame, kp[None]), describe(frame, flipped[None]))
    below = describe(frame, standing(60, top=60)[None])[0]  # legs below the frame's bottom edge
    assert np.isfinite(below[0]).all() and np.isnan(below[2]).all()
    # unknown regions are left out of the distance; nothing in common: unknown
    assert distance(below, below) == 0.0
    nothing = np.full((3, 3), np.nan)
    assert np.isnan(distance(below, nothing))


def test_sample_points_lie_inside_the_regions():
    kp = standing(50)
    pts = sample_points(kp[None])[0]
    torso = pts[0][np.isfinite(pts[0]).all(-1)]
    assert len(torso) == 30
    assert (torso[:, 1] > kp[11, 1]).all() and (torso[:, 1] < kp[1, 1]).all()  # between shoulders and hips
    assert (np.abs(torso[:, 0] - 50) < 10).all()
    shins = pts[2][np.isfinite(pts[2]).all(-1)]
    assert (shins[:, 1] > kp[2, 1]).all() and (shins[:, 1] < kp[3, 1]).all()


def test_typical_is_the_median_over_frames_ignoring_unread_ones():
    frames = np.array([np.full((3, 3), 10.0), np.full((3, 3), 12.0), np.full((3, 3), 200.0),
                       np.full((3, 3), np.nan)])
    np.testing.assert_allclose(typical(frames), np.full((3, 3), 12.0))
    assert np.isnan(typical(np.full((2, 3, 3), np.nan))).all()
