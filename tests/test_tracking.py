import numpy as np
import pytest

from occlupose.tracking import Detection, Tracker, TrackerConfig, box_iou, pose_similarity


def person(cx: float, cy: float, h: float = 200.0, rng=None) -> Detection:
    """A stick person of height h centred at (cx, cy): keypoints spread over its box."""
    offs = np.linspace(-0.5, 0.5, 17)
    kp = np.stack([cx + 0.2 * h * np.sin(7 * offs), cy + h * offs], axis=1)
    if rng is not None:
        kp = kp + rng.normal(0, 1.0, kp.shape)
    box = np.array([kp[:, 0].min(), kp[:, 1].min(), kp[:, 0].max(), kp[:, 1].max()])
    return Detection(box, kp, np.full(17, 0.9))


def test_iou_known_values():
    a = np.array([[0, 0, 10, 10.0]])
    b = np.array([[5, 0, 15, 10.0], [20, 20, 30, 30.0], [0, 0, 10, 10.0]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0, 1.0]])


def test_pose_similarity_is_one_for_the_same_pose_and_ignores_unconfident_joints():
    d = person(100, 100)
    s = pose_similarity(d.keypoints[None], d.scores[None], d.keypoints[None], d.scores[None], d.box[None])
    assert s[0, 0] == pytest.approx(1.0)
    moved = d.keypoints.copy()
    moved[3] += 500
    low = d.scores.copy()
    low[3] = 0.0
    s = pose_similarity(d.keypoints[None], d.scores[None], moved[None], low[None], d.box[None])
    assert s[0, 0] == pytest.approx(1.0)


def test_two_people_crossing_keep_their_identities(rng):
    tr = Tracker()
    first = {}
    for f in range(60):
        a = person(100 + 5 * f, 240, rng=rng)  # walks right
        b = person(400 - 5 * f, 260, h=160, rng=rng)  # walks left, smaller
        ids = tr.update(f, [b, a] if f % 2 else [a, b])
        pair = dict(zip(("b", "a") if f % 2 else ("a", "b"), ids))
        if f == 0:
            first = pair
        assert pair == first
    assert len(tr.tracks) == 2


def test_short_gap_is_bridged_long_gap_starts_a_new_track(rng):
    tr = Tracker(TrackerConfig(max_gap=10))
    for f in list(range(0, 20)) + list(range(26, 40)):  # 6 frames unseen
        tr.update(f, [person(200 + 2 * f, 240, rng=rng)])
    assert len(tr.tracks) == 1
    frames, kp, sc, boxes = tr.tracks[0].arrays()
    assert frames[0] == 0 and frames[-1] == 39 and len(frames) == 40
    assert (sc[20:26] == 0).all() and (sc[:20] > 0).all()
    np.testing.assert_allclose(kp[22], kp[19])  # held through the gap
    for f in range(60, 70):  # 20 frames unseen: a new person
        tr.update(f, [person(200 + 2 * f, 240, rng=rng)])
    assert len(tr.tracks) == 2
