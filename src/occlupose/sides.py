"""Left and right kept consistent over a track (offline), or from the frames before (live, ``--causal``).

A landmark model run on one crop at a time has no memory of which side was which: for a person seen from the
side, or half turned away, it can label the whole body the other way round for a few frames and back (measured:
single/cam02 of the real-video benchmark, 22 of 73 frames, wrists 500 px off, docs/results.md). Each such frame
is a jump of every limb joint to its twin's place, which smoothing then smears and the lifter reads as the body
turning through 180 degrees.

Two labelings per frame, as the model gave them or mirrored (every left joint exchanged with its right twin);
the labeling of the whole track is chosen by dynamic programming (Viterbi) to make the limb joints move least
from one seen frame to the next, plus a small price ``penalty`` (in person sizes) for every frame relabelled, so
that where left and right are equally plausible the model's own labels stay. Motion is measured in person sizes,
each joint's step capped at one size (a lost joint's guess must not decide the side of the others).
"""

from __future__ import annotations

import numpy as np

from .skeleton import FLIP_PERMUTATION, JOINTS_LEFT, JOINTS_RIGHT

LIMBS = np.concatenate([JOINTS_LEFT, JOINTS_RIGHT])
#: "track": over the whole track (offline); "causal": from the frames before only; "off": the model's labels
MODES = ("track", "causal", "off")


def step_costs(keypoints: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K, 17, 2) keypoints of consecutive seen frames and (K,) person sizes -> the mean limb-joint step from
    each frame to the next, (K - 1,) with the same labeling in both and (K - 1,) with one of them mirrored."""
    a, b = keypoints[:-1], keypoints[1:]
    scale = np.maximum(size[1:], 1e-9)[:, None]

    def mean_step(b_labelled: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(b_labelled[:, LIMBS] - a[:, LIMBS], axis=-1) / scale
        return np.minimum(d, 1.0).mean(-1)

    return mean_step(b), mean_step(b[:, FLIP_PERMUTATION])


def consistent_sides(keypoints: np.ndarray, seen: np.ndarray, size: np.ndarray, penalty: float = 0.01
                     ) -> np.ndarray:
    """(T, 17, 2) keypoints, (T,) whether the person was seen in each frame, (T,) person size (px) -> (T,) bool:
    the frames to mirror. A frame not seen takes its last seen frame's decision (it holds that frame's
    keypoints)."""
    seen = np.asarray(seen, bool)
    idx = np.flatnonzero(seen)
    out = np.zeros(len(seen), bool)
    if len(idx) < 2:
        return out
    same, cross = step_costs(np.asarray(keypoints, np.float64)[idx], np.asarray(size, np.float64)[idx])
    k = len(idx)
    # best totals so far ending in each state (as given, mirrored); whether each state's best came from a switch
    given, mirrored = 0.0, penalty
    switched = np.zeros((k, 2), bool)
    for i, (s, c) in enumerate(zip(same.tolist(), cross.tolist()), start=1):  # a loop over frames, 2 states
        g_stay, g_switch = given + s, mirrored + c
        m_stay, m_switch = mirrored + s, given + c
        switched[i] = (g_switch < g_stay, m_switch < m_stay)
        given, mirrored = min(g_stay, g_switch), min(m_stay, m_switch) + penalty
    state = np.zeros(k, np.int8)
    state[-1] = int(mirrored < given)
    for i in range(k - 1, 0, -1):
        state[i - 1] = state[i] ^ switched[i, state[i]]
    out[idx] = state.astype(bool)
    return _held(out, seen)


def _held(decided: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """(T,) decisions made on the seen frames, each unseen frame given its last seen frame's (the track holds
    that frame's keypoints through the gap)."""
    return decided[np.maximum.accumulate(np.where(seen, np.arange(len(seen)), 0))]


def mirror_frames(frames: np.ndarray, *per_joint: np.ndarray) -> list[np.ndarray]:
    """Each (T, 17, ...) array with left and right exchanged in the ``frames`` (T,) bool frames."""
    return [np.where(frames.reshape(-1, *([1] * (a.ndim - 1))), a[:, FLIP_PERMUTATION], a) for a in per_joint]


class SideKeeper:
    """The causal counterpart, for live use and ``run --causal``: one person, one frame at a time, no look-ahead.

    A new frame is mirrored when, mirrored, its limb joints lie nearer the last frame as kept (by more than
    ``penalty`` person sizes). A person seen the other way round for longer than ``max_run_s`` is taken at the
    model's word again: a track that began mirrored must not stay so.
    """

    def __init__(self, penalty: float = 0.01, max_run_s: float = 0.5):
        self.penalty, self.max_run_s = penalty, max_run_s
        self.last: np.ndarray | None = None  # (17, 2) the last frame's keypoints as kept
        self.run_start: float | None = None  # when the current run of mirrored frames began

    def __call__(self, keypoints: np.ndarray, size: float, stamp: float) -> bool:
        """(17, 2) keypoints of the newest frame, the person's size (px) and the frame's time (s) -> whether to
        mirror it."""
        kp = np.asarray(keypoints, np.float64)
        mirror = False
        if self.last is not None:
            same, cross = step_costs(np.stack([self.last, kp]), np.full(2, max(size, 1e-9)))
            mirror = bool(cross[0] + self.penalty < same[0])
        if mirror:
            self.run_start = stamp if self.run_start is None else self.run_start
            if stamp - self.run_start > self.max_run_s:
                mirror, self.run_start = False, None
        else:
            self.run_start = None
        self.last = kp[FLIP_PERMUTATION] if mirror else kp
        return mirror


def causal_sides(keypoints: np.ndarray, seen: np.ndarray, size: np.ndarray, times: np.ndarray,
                 penalty: float = 0.01, max_run_s: float = 0.5) -> np.ndarray:
    """:func:`consistent_sides` from the past only (a :class:`SideKeeper` over the seen frames; unseen frames
    take their last seen frame's decision)."""
    keeper = SideKeeper(penalty, max_run_s)
    seen = np.asarray(seen, bool)
    out = np.zeros(len(seen), bool)
    for i in np.flatnonzero(seen):  # one decision per frame, each needing the one before: sequential
        out[i] = keeper(keypoints[i], float(size[i]), float(times[i]))
    return _held(out, seen)
