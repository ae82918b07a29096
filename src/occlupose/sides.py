"""Left and right kept consistent over a track (offline), or from the frames before (live, ``--causal``).

A landmark model run on one crop at a time has no memory of which side was which: for a person seen from the
side, or half turned away, it can label the whole body the other way round for a few frames and back (measured:
single/cam02 of the real-video benchmark, 22 of 73 frames, wrists 500 px off, docs/results.md). Each such frame
is a jump of every limb joint to its twin's place, which smoothing then smears and the lifter reads as the body
turning through 180 degrees.

The legs and the arms can each be as the model labelled them or mirrored (every left joint exchanged with its
right twin), so a frame has four labelings. The model does mix them: turning, it can swap the arms a frame
before the legs (measured: single/cam02, where deciding the whole body at once lost track of which side was
which for half a second after such a frame). The labeling of the whole track is chosen by dynamic programming
(Viterbi over the four) to make the limb joints move least from one seen frame to the next, plus a small price
(in person sizes) for every group relabelled in a frame, so that where left and right are equally plausible the
model's own labels stay, and an extra price for a frame labelled half one way, half the other, so that the legs
(which pass each other in every stride seen side-on) keep the side the arms show them unless their own motion
says otherwise. Motion is measured in person sizes, each joint's step capped at one size (a lost joint's guess
must not decide the side of the others).

A labeling is a code: 0 as given, 1 the legs mirrored, 2 the arms mirrored, 3 both (:data:`PERMUTATIONS`).
"""

from __future__ import annotations

import numpy as np

from .skeleton import JOINTS_LEFT, JOINTS_RIGHT
from .tracking import last_seen

#: "track": over the whole track (offline); "causal": from the frames before only; "off": the model's labels
MODES = ("track", "causal", "off")
LIMBS = np.concatenate([JOINTS_LEFT, JOINTS_RIGHT])
#: (left, right) joints of each group decided on its own: the legs (hip, knee, ankle), the arms (shoulder, elbow,
#: wrist); group g mirrored is bit g of a labeling code
GROUPS = ((JOINTS_LEFT[:3], JOINTS_RIGHT[:3]), (JOINTS_LEFT[3:], JOINTS_RIGHT[3:]))


def _permutations() -> np.ndarray:
    """(4, 17): the joint order of each labeling code."""
    perms = np.tile(np.arange(17), (1 << len(GROUPS), 1))
    for code, perm in enumerate(perms):
        for g, (left, right) in enumerate(GROUPS):
            if code >> g & 1:
                perm[left], perm[right] = right, left
    return perms


PERMUTATIONS = _permutations()
#: (4, G) which groups each code mirrors; (4 from, 4 to, G) which groups change labeling between two codes
_BITS = (np.arange(len(PERMUTATIONS))[:, None] >> np.arange(len(GROUPS))) & 1
_CHANGES = _BITS[:, None, :] != _BITS[None, :, :]
#: person sizes: the price of one group relabelled in one frame (so that where left and right are equally
#: plausible the model's labels stay), and the extra price of a frame with one group relabelled and not the other
#: (the model mixes them only while turning; without it, legs passing each other side-on, where either labeling
#: fits, would let the legs lose their side for good: any price from 0.005 to 0.3 mended the measured cases)
PENALTY, MIXED = 0.01, 0.05


def _unary(penalty: float, mixed: float) -> np.ndarray:
    """(4,) the price of each labeling code in one frame."""
    count = _BITS.sum(1)
    return penalty * count + np.where((count > 0) & (count < len(GROUPS)), mixed, 0.0)  # mixed may be inf


def step_costs(keypoints: np.ndarray, size: np.ndarray, group: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, 17, 2) keypoints of consecutive seen frames and (K,) person sizes -> the mean step of one group's
    joints (:data:`GROUPS`) from each frame to the next, (K - 1,) with the same labeling in both and (K - 1,)
    with the group mirrored in one of them."""
    a, b = keypoints[:-1], keypoints[1:]
    scale = np.maximum(size[1:], 1e-9)[:, None]
    left, right = GROUPS[group]
    joints, twins = np.concatenate([left, right]), np.concatenate([right, left])

    def mean_step(b_joints: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(b_joints - a[:, joints], axis=-1) / scale
        return np.minimum(d, 1.0).mean(-1)

    return mean_step(b[:, joints]), mean_step(b[:, twins])


def consistent_sides(keypoints: np.ndarray, seen: np.ndarray, size: np.ndarray, penalty: float = PENALTY,
                     mixed: float = MIXED) -> np.ndarray:
    """(T, 17, 2) keypoints, (T,) whether the person was seen in each frame, (T,) person size (px) -> (T,) int
    labeling codes (0: as given; :data:`PERMUTATIONS`). A frame not seen takes its last seen frame's decision
    (it holds that frame's keypoints)."""
    seen = np.asarray(seen, bool)
    idx = np.flatnonzero(seen)
    out = np.zeros(len(seen), np.int8)
    if len(idx) < 2:
        return out
    kp, sz = np.asarray(keypoints, np.float64)[idx], np.asarray(size, np.float64)[idx]
    steps = [step_costs(kp, sz, g) for g in range(len(GROUPS))]
    same, cross = np.stack([s for s, _ in steps], -1), np.stack([c for _, c in steps], -1)  # (K - 1, G)
    # (K - 1, from, to): each group's step, as labelled alike or one of the two frames mirrored
    moves = np.where(_CHANGES[None], cross[:, None, None], same[:, None, None]).sum(-1)
    unary = _unary(penalty, mixed)
    total, back = unary.copy(), np.zeros((len(idx), len(unary)), np.intp)
    for i, m in enumerate(moves, start=1):  # a loop over frames, 4 states
        candidates = total[:, None] + m
        back[i] = candidates.argmin(0)
        total = candidates.min(0) + unary
    state = np.zeros(len(idx), np.intp)
    state[-1] = total.argmin()
    for i in range(len(idx) - 1, 0, -1):
        state[i - 1] = back[i, state[i]]
    out[idx] = state
    return _held(out, seen)


def _held(decided: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """(T,) decisions made on the seen frames, each unseen frame given its last seen frame's (the track holds
    that frame's keypoints through the gap)."""
    return decided[last_seen(seen)]


def mirror_frames(codes: np.ndarray, *per_joint: np.ndarray) -> list[np.ndarray]:
    """Each (T, 17, ...) array relabelled frame by frame by the (T,) labeling codes."""
    perm = PERMUTATIONS[np.asarray(codes, np.intp)]  # (T, 17)
    rows = np.arange(len(perm))[:, None]
    return [a[rows, perm] for a in per_joint]


class SideKeeper:
    """The causal counterpart, for live use and ``run --causal``: one person, one frame at a time, no look-ahead.

    A new frame takes the labeling that puts its limb joints nearest the last frame as kept, with the same prices
    as :func:`consistent_sides`. A group seen the other way round for longer than ``max_run_s`` is taken at the
    model's word again: a track that began mirrored must not stay so.
    """

    def __init__(self, penalty: float = PENALTY, max_run_s: float = 0.5, mixed: float = MIXED):
        self.unary, self.max_run_s = _unary(penalty, mixed), max_run_s
        self.last: np.ndarray | None = None  # (17, 2) the last frame's keypoints as kept
        self.run_start: list[float | None] = [None] * len(GROUPS)  # when each group's run of mirrored frames began

    def __call__(self, keypoints: np.ndarray, size: float, stamp: float) -> int:
        """(17, 2) keypoints of the newest frame, the person's size (px) and the frame's time (s) -> its
        labeling code (0: as given; :data:`PERMUTATIONS`)."""
        kp = np.asarray(keypoints, np.float64)
        code = 0
        if self.last is not None:
            pair, sizes = np.stack([self.last, kp]), np.full(2, max(size, 1e-9))
            steps = np.array([step_costs(pair, sizes, g) for g in range(len(GROUPS))])[..., 0]  # (G, same/cross)
            code = int((np.where(_BITS, steps[:, 1], steps[:, 0]).sum(1) + self.unary).argmin())
        for g in range(len(GROUPS)):
            if code >> g & 1:
                start = self.run_start[g] = stamp if self.run_start[g] is None else self.run_start[g]
                if stamp - start > self.max_run_s:
                    code, self.run_start[g] = code & ~(1 << g), None
            else:
                self.run_start[g] = None
        self.last = kp[PERMUTATIONS[code]]
        return code


def causal_sides(keypoints: np.ndarray, seen: np.ndarray, size: np.ndarray, times: np.ndarray,
                 penalty: float = PENALTY, max_run_s: float = 0.5, mixed: float = MIXED) -> np.ndarray:
    """:func:`consistent_sides` from the past only (a :class:`SideKeeper` over the seen frames; unseen frames
    take their last seen frame's decision): (T,) labeling codes."""
    keeper = SideKeeper(penalty, max_run_s, mixed)
    seen = np.asarray(seen, bool)
    out = np.zeros(len(seen), np.int8)
    for i in np.flatnonzero(seen):  # one decision per frame, each needing the one before: sequential
        out[i] = keeper(keypoints[i], float(size[i]), float(times[i]))
    return _held(out, seen)
