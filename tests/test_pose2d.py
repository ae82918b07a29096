"""Crop geometry of the landmark stage: rotated regions, the way back to image pixels, heatmap refinement."""

import numpy as np
import pytest

pytest.importorskip("cv2")

from occlupose.pose2d import (  # noqa: E402
    as_rois,
    crop,
    crop_matrix,
    crop_to_image,
    refine_from_heatmap,
    rois_from_alignment,
)


def test_alignment_points_give_mediapipes_region():
    hip = np.array([[100.0, 200.0], [100.0, 200.0], [100.0, 200.0]])
    top = np.array([[100.0, 150.0], [150.0, 200.0], [100.0, 250.0]])  # upright, head right, upside down
    rois = rois_from_alignment(hip, top, margin=1.25)
    np.testing.assert_allclose(rois[:, :3], [[100, 200, 125]] * 3)
    np.testing.assert_allclose(np.abs(rois[:, 3]), [0, np.pi / 2, np.pi], atol=1e-12)
    # in every crop the top point lies straight above the hip centre, 50 px * 256 / 125 away
    for roi, h, t in zip(rois, hip, top):
        m = crop_matrix(roi, 256)
        h2, t2 = m[:, :2] @ h + m[:, 2], m[:, :2] @ t + m[:, 2]
        np.testing.assert_allclose(h2, [128, 128], atol=1e-9)
        np.testing.assert_allclose(t2, [128, 128 - 50 * 256 / 125], atol=1e-9)
    np.testing.assert_allclose(rois_from_alignment(hip, top, rotate=False)[:, 3], 0)


def test_crop_and_back_is_the_identity():
    rng = np.random.default_rng(0)
    rois = np.array([[120.0, 90.0, 80.0, 0.7], [60.0, 50.0, 40.0, -2.5], [30.0, 40.0, 50.0, 0.0]])
    pts = rng.uniform(0, 256, (3, 5, 2))
    img = np.stack([np.array([[*crop_matrix(r, 256)[0]], [*crop_matrix(r, 256)[1]]]) for r in rois])
    back = crop_to_image(pts, rois, 256)
    forward = np.einsum("nij,nkj->nki", img[:, :, :2], back) + img[:, None, :, 2]
    np.testing.assert_allclose(forward, pts, atol=1e-9)


def test_a_rotated_crop_sees_the_right_pixels():
    frame = np.zeros((200, 240, 3), np.uint8)
    frame[148:153, 58:63] = 255  # a bright dot centred on (60, 150)
    roi = as_rois([110.0, 120.0, 128.0, 1.1])[0]
    c = crop(frame, roi, 128).astype(float).sum(-1)
    ys, xs = np.mgrid[:128, :128]
    centroid = np.array([(xs * c).sum(), (ys * c).sum()]) / c.sum()
    found = crop_to_image(centroid[None, None], roi[None], 128)[0, 0]
    assert np.linalg.norm(found - [60, 150]) < 0.5


def test_refinement_moves_to_the_heatmap_mean():
    heat = np.full((1, 64, 64, 3), -20.0)  # sigmoid ~ 0 everywhere
    heat[0, 10, 20, 0] = heat[0, 10, 22, 0] = 20.0  # joint 0: two sure cells, mean at column 21, row 10
    heat[0, 40, 40, 1] = 0.0  # joint 1: a peak of 0.5 -> refined onto its cell
    heat[0, 30, 30, 2] = -1.0  # joint 2: peak sigmoid(-1) = 0.27 < 0.5 -> left alone
    pts = np.array([[[21.2 * 4, 10.5 * 4], [41.0 * 4, 41.0 * 4], [30.0 * 4, 30.0 * 4]]])
    out = refine_from_heatmap(pts, heat, 256)
    np.testing.assert_allclose(out[0, 0], [21 * 4, 10 * 4], atol=1e-6)
    np.testing.assert_allclose(out[0, 1], [40 * 4, 40 * 4], atol=1e-3)
    np.testing.assert_allclose(out[0, 2], pts[0, 2])
    # a landmark outside the crop, or one whose peak is further than 3 cells, stays where it was
    far = np.array([[[-10.0, 5.0], [41.0 * 4 + 20, 41.0 * 4], [30.0 * 4, 30.0 * 4]]])
    np.testing.assert_allclose(refine_from_heatmap(far, heat, 256), far)


def test_bad_region_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(N, 3\) or \(N, 4\)"):
        as_rois(np.zeros((2, 5)))
