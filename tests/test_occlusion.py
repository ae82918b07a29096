import numpy as np
import pytest

from occlupose.occlusion import _fill_missing, displacements, flow_consistency, normalize_2d


def test_eq2_known_values():
    conf = np.array([0.9, 0.9, 0.5])
    flow = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 0.0]])
    disp = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 20.0]])
    box = np.array(100.0)
    out = flow_consistency(conf, flow, disp, box, sigma=0.1)
    # |o-d|/box = 0, 0.1, 0.2 -> exp(0), exp(-0.5), exp(-2)
    np.testing.assert_allclose(out, [0.9, 0.9 * np.exp(-0.5), 0.5 * np.exp(-2.0)])


def test_eq2_flags_a_keypoint_whose_motion_disagrees_with_the_flow():
    # a keypoint that jumps 30 px while the image there moves 2 px, for a 150 px person
    conf = np.array([0.8, 0.8])
    flow = np.array([[2.0, 0.0], [2.0, 0.0]])
    disp = np.array([[2.5, 0.0], [32.0, 0.0]])
    out = flow_consistency(conf, flow, disp, np.array(150.0))
    reliable = out >= 0.3
    assert reliable.tolist() == [True, False]


def test_displacements_last_frame_repeats():
    track = np.arange(4, dtype=float)[:, None, None] * np.ones((4, 2, 2))
    d = displacements(track)
    assert d.shape == track.shape and np.all(d == 1.0)


def test_fill_missing_interpolates_and_holds_edges():
    v = np.array([[0.0], [9.0], [2.0], [9.0], [9.0], [8.0], [9.0]])
    ok = np.array([False, False, True, False, False, True, False])
    out = _fill_missing(v, ok)[:, 0]
    np.testing.assert_allclose(out, [2, 2, 2, 4, 6, 8, 8])


def test_normalize_2d_removes_position_and_size(rng):
    kp = rng.normal(size=(2, 20, 17, 2))
    rel = rng.random((2, 20, 17)) > 0.2
    rel[..., 0] = True
    a, _, _ = normalize_2d(kp, rel)
    b, centre, scale = normalize_2d(kp * 7.0 + np.array([300.0, -50.0]), rel)
    np.testing.assert_allclose(a, b, atol=1e-9)
    assert scale.shape == (2,) and centre.shape == (2, 20, 2)
    np.testing.assert_allclose(b[..., 0, :], 0.0, atol=1e-9)


def test_normalize_2d_without_a_reliable_pelvis_uses_the_reliable_joints():
    kp = np.zeros((3, 17, 2))
    kp[:, 1:, 0] = 10.0
    rel = np.ones((3, 17), bool)
    rel[:, 0] = False
    out, centre, _ = normalize_2d(kp, rel)
    np.testing.assert_allclose(centre[:, 0], 10.0)


@pytest.mark.parametrize("n", [1, 2])
def test_normalize_short_sequences(n):
    kp = np.random.default_rng(0).normal(size=(n, 17, 2))
    out, _, scale = normalize_2d(kp, np.ones((n, 17), bool))
    assert np.isfinite(out).all() and scale > 0
