"""Left and right kept consistent over a track: hand-made walkers with frames labelled the other way round, whole
or only the legs or only the arms."""

import numpy as np

from occlupose.sides import PERMUTATIONS, SideKeeper, causal_sides, consistent_sides, mirror_frames, step_costs
from occlupose.skeleton import FLIP_PERMUTATION, JOINTS_LEFT, JOINTS_RIGHT


def walker(t: int = 40) -> np.ndarray:
    """(t, 17, 2) px: a side-on person 200 px tall, left limbs 60 px to the left of the right ones, walking
    right 2 px a frame."""
    rng = np.random.default_rng(0)
    base = rng.uniform(-40, 40, (17, 2)) + [300, 300]
    base[JOINTS_LEFT] = base[JOINTS_RIGHT] - [60.0, 0.0]
    return base + np.arange(t)[:, None, None] * np.array([2.0, 0.0])


def test_step_costs_by_hand():
    kp = walker(3)
    for group in (0, 1):  # the legs, the arms
        same, cross = step_costs(kp, np.full(3, 200.0), group)
        np.testing.assert_allclose(same, [0.01, 0.01])  # 2 px in a 200 px person
        # mirrored, every joint of the group lands on its twin's place: 60 px away, minus or plus the 2 px of walking
        np.testing.assert_allclose(cross, [(58 + 62) / 2 / 200] * 2)


def test_the_labelings_legs_arms_and_both():
    np.testing.assert_array_equal(PERMUTATIONS[0], np.arange(17))
    np.testing.assert_array_equal(PERMUTATIONS[3], FLIP_PERMUTATION)
    np.testing.assert_array_equal(PERMUTATIONS[1][PERMUTATIONS[2]], FLIP_PERMUTATION)  # legs then arms: both
    for code, moved in ((1, [1, 2, 3, 4, 5, 6]), (2, [11, 12, 13, 14, 15, 16])):
        np.testing.assert_array_equal(PERMUTATIONS[code][PERMUTATIONS[code]], np.arange(17))  # an involution
        np.testing.assert_array_equal(np.flatnonzero(PERMUTATIONS[code] != np.arange(17)), moved)


def test_legs_and_arms_mirrored_apart_are_mended_apart():
    """The model turns a person's labels round, the legs a frame before the arms (frame 10), and back, the arms a
    frame after the legs (frame 20), as measured on a real view; later the legs alone are the other way round
    (frames 24-30), then the arms alone (34-36). Deciding the whole body at once cannot mend a frame where only
    half of it is wrong. The causal keeper, at 60 frames/s (every run under its 0.5 s), mends them too."""
    kp = walker()
    codes = np.zeros(40, int)
    codes[10] = 1
    codes[11:20] = 3
    codes[20] = 2
    codes[24:31] = 1
    codes[34:37] = 2
    given = mirror_frames(codes, kp)[0]
    found = consistent_sides(given, np.ones(40, bool), np.full(40, 200.0))
    np.testing.assert_array_equal(found, codes)
    np.testing.assert_allclose(mirror_frames(found, given)[0], kp)
    whole = consistent_sides(given, np.ones(40, bool), np.full(40, 200.0), mixed=np.inf)  # the whole body at once
    assert set(whole.tolist()) <= {0, 3} and (whole != codes).any()
    np.testing.assert_array_equal(causal_sides(given, np.ones(40, bool), np.full(40, 200.0), np.arange(40) / 60.0),
                                  codes)


def test_legs_passing_each_other_keep_the_side_the_arms_show():
    """Seen side-on, the legs pass each other in every stride: in frames 14-16 and 29-31 left and right leg joints
    are in one place, so the legs alone cannot tell whether the labels turned round there. The model turns the
    whole body round in frames 15-29; the arms show it, and a frame half one way, half the other costs more, so
    the legs are mended with them (decided on their own, they keep the model's labels: wrong in frames 17-28)."""
    kp = walker()
    left, right = JOINTS_LEFT[:3], JOINTS_RIGHT[:3]
    for crossing in (slice(14, 17), slice(29, 32)):
        kp[crossing, left] = kp[crossing, right] = kp[crossing, right] - [30.0, 0.0]
    codes = np.zeros(40, int)
    codes[15:30] = 3
    given = mirror_frames(codes, kp)[0]
    np.testing.assert_array_equal(consistent_sides(given, np.ones(40, bool), np.full(40, 200.0)), codes)
    split = consistent_sides(given, np.ones(40, bool), np.full(40, 200.0), mixed=0.0)
    assert (split[17:29] == 2).all()  # without the price the legs lose their side


def test_frames_labelled_the_other_way_are_found_and_mirrored_back():
    kp = walker()
    wrong = np.zeros(40, bool)
    wrong[[5, 6, 7, 20, 31, 32]] = True
    given = np.where(wrong[:, None, None], kp[:, FLIP_PERMUTATION], kp)
    seen = np.ones(40, bool)
    found = consistent_sides(given, seen, np.full(40, 200.0))
    np.testing.assert_array_equal(found, 3 * wrong)  # legs and arms both mirrored back
    conf = np.tile(np.linspace(0.1, 0.9, 17), (40, 1))
    fixed_kp, fixed_conf = mirror_frames(found, given, np.where(wrong[:, None], conf[:, FLIP_PERMUTATION], conf))
    np.testing.assert_allclose(fixed_kp, kp)
    np.testing.assert_allclose(fixed_conf, conf)


def test_the_models_labels_stay_where_the_sides_cannot_be_told_apart():
    kp = walker()
    kp[:, JOINTS_LEFT] = kp[:, JOINTS_RIGHT]  # left and right on one another (seen from the front, arms down)
    assert not consistent_sides(kp, np.ones(40, bool), np.full(40, 200.0)).any()


def test_the_majority_labeling_wins_and_unseen_frames_follow_their_last_seen_one():
    kp = walker()
    given = kp.copy()
    given[:12] = kp[:12, FLIP_PERMUTATION]  # the first 12 frames the other way: a minority
    seen = np.ones(40, bool)
    seen[[8, 9]] = False  # the person lost for two frames (the track holds frame 7's keypoints)
    given[[8, 9]] = given[7]
    found = consistent_sides(given, seen, np.full(40, 200.0))
    expected = np.zeros(40, int)
    expected[:12] = 3
    np.testing.assert_array_equal(found, expected)
    assert not consistent_sides(kp[:1], np.ones(1, bool), np.full(1, 200.0)).any()  # one frame: nothing to do


def test_the_causal_keeper_mends_short_runs_from_the_past_alone():
    kp = walker()
    wrong = np.zeros(40, bool)
    wrong[[5, 6, 7, 20, 31, 32]] = True
    given = np.where(wrong[:, None, None], kp[:, FLIP_PERMUTATION], kp)
    times = np.arange(40) / 10.0
    found = causal_sides(given, np.ones(40, bool), np.full(40, 200.0), times)
    np.testing.assert_array_equal(found, 3 * wrong)
    # the past alone decides: a frame's decision does not change when later frames do
    later = given.copy()
    later[25:] = kp[25:, FLIP_PERMUTATION]
    np.testing.assert_array_equal(causal_sides(later, np.ones(40, bool), np.full(40, 200.0), times)[:25],
                                  found[:25])


def test_the_causal_keeper_takes_the_models_word_after_max_run():
    """A track that begins the other way round (the first 12 frames) is mirrored into the first frame's labels
    for max_run_s (0.5 s = 5 frames at 10 fps), then left at the model's word: no longer than that mirrored."""
    kp = walker()
    given = kp.copy()
    given[:12] = kp[:12, FLIP_PERMUTATION]
    keeper = SideKeeper(max_run_s=0.5)
    found = np.array([keeper(given[i], 200.0, i / 10.0) for i in range(40)])
    expected = np.zeros(40, int)
    expected[12:18] = 3  # 12 is a jump from the first frames' labels: mirrored, for 0.5 s, then given up
    np.testing.assert_array_equal(found, expected)
