"""Multi-person tracking by box overlap and pose similarity (in the spirit of PoseFlow, paper Sec. 3).

Each frame's detections are matched to the live tracks with the Hungarian algorithm on
``similarity = w_box IoU + w_pose OKS``; a track unseen for up to ``max_gap`` frames can still be matched, so
a short occlusion or a missed detection becomes missing frames of the same person, not a new person. A
track's box and keypoints are carried forward at its last velocity while it is unseen, so a person who walks
on behind something is met where they come out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from .appearance import distance as clothes_distance
from .appearance import typical
from .validate import at_least


@dataclass(frozen=True)
class TrackerConfig:
    box_weight: float = 0.5
    pose_weight: float = 0.5
    #: below this similarity a detection starts a new track
    min_similarity: float = 0.2
    #: frames a track may go unseen and still continue
    max_gap: int = 25
    #: OKS falloff, as a fraction of the box size
    pose_kappa: float = 0.1
    #: keypoints below this score do not count in the pose similarity
    min_score: float = 0.3


@dataclass
class Detection:
    """One person in one frame: box (4,) x0 y0 x1 y1 pixels, keypoints (17, 2) pixels, scores (17,), and the
    landmark model's presence score (how sure it is that the crop holds a person)."""

    box: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    presence: float = 1.0
    #: optical flow (17, 2) px from this frame to the next at the keypoints, and where it is valid (17,)
    flow: np.ndarray | None = None
    flow_ok: np.ndarray | None = None
    #: what they wear: (3, 3) colours of torso, thighs and shins (occlupose.appearance.describe)
    appearance: np.ndarray | None = None
    #: the 2D model's own 3D pose (17, 3) metres, hip-centred, image axes (BlazePose's world landmarks), if any
    world: np.ndarray | None = None

    @property
    def size(self) -> float:
        """The person's size in pixels: the longer side of the keypoint box."""
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1], 1.0))


@dataclass
class Track:
    track_id: int
    frames: list[int] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)

    @property
    def last(self) -> Detection:
        return self.detections[-1]

    def velocity(self, window: int = 5) -> np.ndarray:
        """(2,) pixels per frame of the pelvis keypoint over the last ``window`` frames the person was seen
        (a keypoint box jitters with every arm swing; the pelvis does not). 0 with a single detection."""
        frames = np.asarray(self.frames[-window:])
        if len(frames) < 2:
            return np.zeros(2)
        first = int(np.searchsorted(frames, frames[-1] - window))
        if frames[-1] == frames[first]:
            return np.zeros(2)
        a, b = self.detections[len(self.frames) - len(frames) + first], self.detections[-1]
        return (b.keypoints[0] - a.keypoints[0]) / (frames[-1] - frames[first])

    def predicted(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Box (4,) and keypoints (17, 2) expected at ``frame``, at constant velocity from the last detection."""
        shift = self.velocity() * (frame - self.frames[-1])
        return self.last.box + np.tile(shift, 2), self.last.keypoints + shift

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Dense per-frame arrays from the first to the last frame seen: frames (T,), keypoints (T, 17, 2),
        scores (T, 17) with 0 on the frames where the person was not detected, boxes (T, 4) (held)."""
        frames = np.arange(self.frames[0], self.frames[-1] + 1)
        sc = np.zeros((len(frames), 17))
        sc[np.array(self.frames) - self.frames[0]] = [d.scores for d in self.detections]
        # keypoints and box held through gaps (scores stay 0: the lifter sees them as missing)
        return (frames, self.held([d.keypoints for d in self.detections]), sc,
                self.held([d.box for d in self.detections]))

    def held(self, values: list[np.ndarray]) -> np.ndarray:
        """One value per detection -> (T, ...) over every frame from the first to the last seen, each gap holding
        the value seen before it."""
        idx = np.array(self.frames) - self.frames[0]
        seen = np.zeros(idx[-1] + 1, bool)
        seen[idx] = True
        out = np.zeros((len(seen), *np.shape(values[0])))
        out[idx] = values
        return out[last_seen(seen)]


def last_seen(seen: np.ndarray) -> np.ndarray:
    """(T,) bool -> (T,) the index of the last seen frame at or before each (0 before the first)."""
    return np.maximum.accumulate(np.where(seen, np.arange(len(seen)), 0))


def box_area(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) x0 y0 x1 y1 -> (...) areas."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 4) and (..., 4), broadcast against each other -> (...) overlap areas."""
    lo = np.maximum(a[..., :2], b[..., :2])
    hi = np.minimum(a[..., 2:], b[..., 2:])
    return np.clip(hi - lo, 0, None).prod(-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) -> (N, M) intersection over union."""
    inter = box_intersection(a[:, None], b[None])
    return inter / np.maximum(box_area(a)[:, None] + box_area(b)[None, :] - inter, 1e-9)


def pose_similarity(kp_a: np.ndarray, sc_a: np.ndarray, kp_b: np.ndarray, sc_b: np.ndarray, boxes_a: np.ndarray,
                    kappa: float = 0.1, min_score: float = 0.3) -> np.ndarray:
    """(N, 17, 2) vs (M, 17, 2) -> (N, M) object-keypoint similarity over the keypoints confident in both."""
    scale = np.sqrt(np.maximum((boxes_a[:, 2] - boxes_a[:, 0]) * (boxes_a[:, 3] - boxes_a[:, 1]), 1.0))
    d2 = ((kp_a[:, None] - kp_b[None]) ** 2).sum(-1)  # (N, M, 17)
    both = (sc_a[:, None] >= min_score) & (sc_b[None] >= min_score)
    sim = np.exp(-d2 / (2 * (kappa * scale[:, None, None]) ** 2))
    n = both.sum(-1)
    return np.where(n > 0, (sim * both).sum(-1) / np.maximum(n, 1), 0.0)


class Tracker:
    """Feed detections frame by frame with :meth:`update`; read :attr:`tracks` at the end."""

    def __init__(self, cfg: TrackerConfig = TrackerConfig()):
        self.cfg = cfg
        self.tracks: list[Track] = []

    def _live(self, frame: int) -> list[Track]:
        return [t for t in self.tracks if frame - t.frames[-1] <= self.cfg.max_gap + 1]

    def update(self, frame: int, detections: list[Detection]) -> list[int]:
        """Assign this frame's detections to tracks; returns the track id of each detection."""
        live = self._live(frame)
        ids = [-1] * len(detections)
        if live and detections:
            pred = [t.predicted(frame) for t in live]
            boxes_t = np.array([p[0] for p in pred])
            boxes_d = np.array([d.box for d in detections])
            sim = self.cfg.box_weight * box_iou(boxes_t, boxes_d) + self.cfg.pose_weight * pose_similarity(
                np.array([p[1] for p in pred]), np.array([t.last.scores for t in live]),
                np.array([d.keypoints for d in detections]), np.array([d.scores for d in detections]),
                boxes_t, self.cfg.pose_kappa, self.cfg.min_score)
            rows, cols = linear_sum_assignment(-sim)
            for r, c in zip(rows, cols):
                if sim[r, c] >= self.cfg.min_similarity:
                    live[r].frames.append(frame)
                    live[r].detections.append(detections[c])
                    ids[c] = live[r].track_id
        for c, d in enumerate(detections):
            if ids[c] < 0:
                track = Track(len(self.tracks), [frame], [d])
                self.tracks.append(track)
                ids[c] = track.track_id
        return ids


@dataclass(frozen=True)
class StitchConfig:
    """Joining the pieces of one person's track after the fact (the online tracker only looks one frame back)."""

    #: a person unseen for up to this long keeps their id (the goal is 1 s hidden; being found again takes up to
    #: a few frames more, benchmarks/occlusion_ids.py)
    max_gap_s: float = 1.5
    #: where they come back: within this many body sizes of where they were heading
    max_distance: float = 1.0
    #: and at a similar size (ratio of the larger to the smaller)
    max_size_ratio: float = 1.6
    #: each side's size at a join is its largest over its last (first) sightings in this long (at the video's
    #: rate): a person walking behind something, or coming out, is seen in part for a few frames
    emerge_s: float = 0.25
    #: two tracks at the same time whose pelvis keypoints stay this close (in body sizes) are one person
    duplicate_distance: float = 0.2
    #: clothes (occlupose.appearance) tell people apart: tracks cut where they pass from one person to another,
    #: pieces joined to whoever wears the same (False: by place and size alone)
    clothes: bool = True
    #: what a person wears is the median of their colours over this long
    appearance_s: float = 0.2
    #: ... read only for people at least this tall (px): on smaller ones one person's colours vary as much as
    #: two people's (the 60-120 px people of the street clip)
    appearance_min_size: float = 160.0
    #: a track is cut where the clothes before and after differ by this much (Lab) and the person jumps at least
    #: ``swap_jump`` body sizes from where they were heading near there: a crop that ended on someone else
    swap_distance: float = 20.0
    swap_jump: float = 0.1
    #: joining a successor costs this many body sizes per unit of Lab distance between the clothes on either
    #: side, so of two pieces near where a person was heading the one wearing their clothes is joined first
    appearance_weight: float = 0.01

    def __post_init__(self) -> None:
        at_least(self, 0.0, "max_gap_s", "max_distance", "duplicate_distance", "emerge_s", "appearance_s",
                 "appearance_min_size", "swap_distance", "swap_jump", "appearance_weight")
        at_least(self, 1.0, "max_size_ratio")


def _merge(a: Track, b: Track) -> Track:
    """One track from two; where both saw a frame the more confident detection (presence) stays, the longer
    track's on a tie."""
    if len(b.frames) > len(a.frames):
        a, b = b, a
    best: dict[int, Detection] = {}
    for f, d in [*zip(a.frames, a.detections), *zip(b.frames, b.detections)]:
        if f not in best or d.presence > best[f].presence:
            best[f] = d
    frames = sorted(best)
    return Track(min(a.track_id, b.track_id), frames, [best[f] for f in frames])


def _duplicate_distance(a: Track, b: Track) -> float:
    """Median pelvis distance over the frames both tracks saw, in body sizes (inf when they share none)."""
    common = sorted(set(a.frames) & set(b.frames))
    if not common:
        return np.inf
    da = dict(zip(a.frames, a.detections))
    db = dict(zip(b.frames, b.detections))
    d = [np.linalg.norm(da[f].keypoints[0] - db[f].keypoints[0]) / max(da[f].size, db[f].size) for f in common]
    return float(np.median(d))


def _successor_cost(a: Track, b: Track, max_gap: int, cfg: StitchConfig, emerge: int = 1) -> float:
    """How far (body sizes) b's first pelvis is from where a was heading, or inf when b cannot continue a.
    Sizes: the largest of a's last and b's first ``emerge`` detections."""
    gap = b.frames[0] - a.frames[-1]
    if gap <= 0 or gap > max_gap:
        return np.inf
    first = b.detections[0]
    # over sightings, not frames: a search crop that finds pieces of someone in the thing hiding them (the panel
    # of real-video view multi/cam02: 3 sightings at 0.4 of his size over 14 frames) must not hide what they were
    size_a = max(d.size for d in a.detections[-emerge:])
    size_b = max(d.size for d in b.detections[:emerge])
    if max(size_a, size_b) / min(size_a, size_b) > cfg.max_size_ratio:
        return np.inf
    _, expected = a.predicted(b.frames[0])
    # the prediction grows less certain with the gap: compare with the last seen place too, take the nearer
    here = first.keypoints[0]
    dist = min(np.linalg.norm(here - expected[0]), np.linalg.norm(here - a.last.keypoints[0]))
    cost = dist / size_a
    return cost if cost <= cfg.max_distance else np.inf


def clothes(track: Track, min_size: float) -> np.ndarray:
    """(T, 3, 3) what the person wears in each of the track's detections; NaN where not read or where they are
    smaller than ``min_size`` pixels."""
    out = np.full((len(track.detections), 3, 3), np.nan)
    for k, d in enumerate(track.detections):
        if d.appearance is not None and d.size >= min_size:
            out[k] = d.appearance
    return out


def windowed_clothes(worn: np.ndarray, window: int) -> np.ndarray:
    """(T, 3, 3) clothes per detection -> (T - window + 1, 3, 3) their medians over each run of ``window``."""
    return typical(np.moveaxis(np.lib.stride_tricks.sliding_window_view(worn, window, axis=0), -1, 0))


def end_clothes(track: Track, window: int, min_size: float, first: bool) -> np.ndarray:
    """(3, 3) what the person wears over the first (or last) ``window`` detections of the track; NaN when fewer
    than half of them were read."""
    c = clothes(track, min_size)
    c = c[:window] if first else c[-window:]
    if np.isfinite(c).any((1, 2)).sum() * 2 < min(window, len(track.detections)):
        return np.full((3, 3), np.nan)
    return typical(c)


def jump(track: Track, k: int) -> float:
    """How far (body sizes) detection ``k``'s pelvis lies from where the track was heading (constant velocity
    from the detections before it); 0 for the first two."""
    if k < 2:
        return 0.0
    _, expected = Track(track.track_id, track.frames[:k], track.detections[:k]).predicted(track.frames[k])
    d = track.detections[k]
    return float(np.linalg.norm(d.keypoints[0] - expected[0])) / max(d.size, track.detections[k - 1].size)


def split_swaps(track: Track, window: int, cfg: StitchConfig = StitchConfig()) -> list[Track]:
    """``track`` cut where it passed from one person to another: the clothes over the ``window`` detections
    before and after differ by ``cfg.swap_distance`` or more, and the person jumps ``cfg.swap_jump`` body sizes
    or more from where they were heading within half a window of there (a person walking behind something
    changes colour, as the occluder covers them, without a jump); the cut goes at the largest jump. The largest
    change is cut first, then each piece again. The stitching that follows may join the pieces back, to whoever
    they fit best."""
    if not cfg.clothes or window < 1 or len(track.detections) < 2 * window:
        return [track]
    c = clothes(track, cfg.appearance_min_size)
    t = len(c)
    typical_w = windowed_clothes(c, window)  # (t - w + 1, 3, 3)
    read = np.lib.stride_tricks.sliding_window_view(np.isfinite(c).any((1, 2)), window).sum(-1) * 2 >= window
    # a cut before detection k (w <= k <= t - w) compares window [k - w, k) with [k, k + w)
    change = clothes_distance(typical_w[:t - 2 * window + 1], typical_w[window:])
    ok = read[:t - 2 * window + 1] & read[window:] & (change >= cfg.swap_distance)
    for i in np.argsort(-np.where(ok, change, -np.inf), kind="stable")[:ok.sum()]:
        # the medians change over half a window either side of where the clothes did: the cut goes at the jump
        near = range(max(int(i) + window - window // 2, 1), min(int(i) + window + window // 2 + 1, t))
        jumps = [jump(track, j) for j in near]
        if max(jumps) >= cfg.swap_jump:
            k = near[int(np.argmax(jumps))]
            before = Track(track.track_id, track.frames[:k], track.detections[:k])
            after = Track(track.track_id, track.frames[k:], track.detections[k:])
            return split_swaps(before, window, cfg) + split_swaps(after, window, cfg)
    return [track]


def part_of(a: Track, b: Track, min_inside: float = 0.6, max_size: float = 0.6) -> bool:
    """Whether ``a`` is a piece of the person ``b`` (a crop of their legs taken for a small person): in at least
    half of the frames ``a`` was seen, ``b`` was seen too, ``min_inside`` of ``a``'s keypoint box lay inside
    ``b``'s and ``a`` was at most ``max_size`` times ``b``'s size. Measured case: a 7-frame track on a walking
    man's legs, 0.34-0.96 inside his box, a third of his size. The rule's risk: a small person standing in front
    of a big one for most of their track."""
    db = dict(zip(b.frames, b.detections))
    pairs = [(d, db[f]) for f, d in zip(a.frames, a.detections) if f in db]
    if not pairs:
        return False
    box_a = np.array([d.box for d, _ in pairs])
    box_b = np.array([o.box for _, o in pairs])
    inside = box_intersection(box_a, box_b) / np.maximum(box_area(box_a), 1e-9)
    smaller = np.array([d.size <= max_size * o.size for d, o in pairs])
    return int(((inside >= min_inside) & smaller).sum()) >= 0.5 * len(a.frames)


def _cheapest_pair(tracks: list[Track], cost, ordered: bool) -> tuple[int, int] | None:
    """Indices (i, j) of the pair with the lowest finite ``cost(tracks[i], tracks[j])`` (the first found on a
    tie), over every ordered pair, or each unordered one once (i < j); None when no cost is finite."""
    best, pair = np.inf, None
    for i, a in enumerate(tracks):
        for j in range(len(tracks)) if ordered else range(i + 1, len(tracks)):
            if i != j:
                c = cost(a, tracks[j])
                if c < best:
                    best, pair = c, (i, j)
    return pair


class Joiner:
    """Whether two tracks are one person, as a cost: the stitching after the fact and live use's joining of a
    new track to one lost a moment ago (:class:`pipeline.FrameTracker`) ask the same questions. Caches each
    track end's clothes (use one per stitching; the cache holds the tracks)."""

    def __init__(self, fps: float, cfg: StitchConfig = StitchConfig()):
        self.cfg = cfg
        self.window = max(1, int(round(cfg.appearance_s * fps)))
        self.max_gap = max(1, int(round(cfg.max_gap_s * fps)))
        self.emerge = max(1, int(round(cfg.emerge_s * fps)))
        # id(track), part (True / False: its first / last sightings, None: all) -> (track, its clothes there)
        self._ends: dict[tuple[int, bool | None], tuple[Track, np.ndarray]] = {}

    def worn(self, t: Track, first: bool | None) -> np.ndarray:
        key, cfg = (id(t), first), self.cfg
        if key not in self._ends or self._ends[key][0] is not t:
            self._ends[key] = (t, typical(clothes(t, cfg.appearance_min_size)) if first is None
                               else end_clothes(t, self.window, cfg.appearance_min_size, first))
        return self._ends[key][1]

    def duplicate(self, a: Track, b: Track) -> float:
        """Median pelvis distance (body sizes) of two tracks at the same time, inf unless they are one person."""
        d = _duplicate_distance(a, b)
        if d > self.cfg.duplicate_distance:
            return np.inf
        # a crop that ended on someone else in its last frames (too few to cut) holds them at the same place as
        # their own track: two people's tracks, as their clothes over the whole of each say
        if self.cfg.clothes and clothes_distance(self.worn(a, None), self.worn(b, None)) >= self.cfg.swap_distance:
            return np.inf
        return d

    def successor(self, a: Track, b: Track) -> float:
        """How well ``b`` continues ``a`` (body sizes from where ``a`` was heading, plus their clothes'
        difference), inf when it cannot."""
        cfg = self.cfg
        cost = _successor_cost(a, b, self.max_gap, cfg, self.emerge)
        if np.isfinite(cost) and cfg.clothes and cfg.appearance_weight > 0:
            change = float(clothes_distance(self.worn(a, False), self.worn(b, True)))
            cost += cfg.appearance_weight * change if np.isfinite(change) else 0.0
        return cost


def stitch(tracks: list[Track], fps: float, cfg: StitchConfig = StitchConfig()) -> list[Track]:
    """Tracks of the same person joined: two that follow the same person at the same time (duplicates), and one
    that starts within ``max_gap_s`` of another's end, near where it was heading and at its size (a person
    hidden, turned or jumping who was lost and found again), the nearest first, nearness counting their clothes
    too; duplicates are joined before any successor. Tracks that passed from one person to another are cut
    there first (:func:`split_swaps`). Returns tracks renumbered 0, 1, ... by first frame."""
    join = Joiner(fps, cfg)
    tracks = [piece for t in tracks if t.frames
              for piece in split_swaps(Track(t.track_id, list(t.frames), list(t.detections)), join.window, cfg)]
    while len(tracks) > 1:
        # duplicates first: two tracks of one person at the same time is seen, a successor only guessed. A
        # search crop that lands on someone else makes a short double of them, which may also lie where the
        # lost person was heading (real-video view multi/cam04): joined to the lost person, it would overlap
        # their true return in time and keep it from being joined
        pair = (_cheapest_pair(tracks, join.duplicate, ordered=False)
                or _cheapest_pair(tracks, join.successor, ordered=True))
        if pair is None:
            break
        i, j = pair
        merged = _merge(tracks[i], tracks[j])
        tracks = [t for k, t in enumerate(tracks) if k not in (i, j)] + [merged]
    tracks.sort(key=lambda t: t.frames[0])
    for k, t in enumerate(tracks):
        t.track_id = k
    return tracks


class OnlineJoiner:
    """The ids live use shows. The online tracker looks one frame back, so a person hidden for longer than its
    ``max_gap`` frames comes back as a new track; here a track is given, the frame it starts, the id of a person
    lost within ``max_gap_s`` whom it continues (:meth:`Joiner.successor`: near where they were heading, at their
    size, in their clothes), the cheapest first. No hindsight: nothing is cut and no later track can take the id
    back. The offline run stitches instead (:func:`stitch`)."""

    def __init__(self, cfg: StitchConfig = StitchConfig()):
        self.cfg = cfg
        #: a track's id (the online tracker's) -> the id shown, that of the person's first track
        self.alias: dict[int, int] = {}

    def shown(self, track_id: int) -> int:
        return self.alias.get(track_id, track_id)

    def person(self, tracks: list[Track], shown: int) -> Track:
        """One person's tracks so far as one (``tracks``: the online tracker's, indexed by id)."""
        person = functools.reduce(_merge, [t for t in tracks if self.shown(t.track_id) == shown])
        return Track(shown, person.frames, person.detections)

    def update(self, tracks: list[Track], frame: int, ids: list[int], fps: float) -> list[int]:
        """The ids to show for this frame's detections, whose online track ids are ``ids``."""
        born = [t for t in ids if tracks[t].frames[0] == frame]
        # each shown id once: where the tracker went on with a track of a person whose later track also goes on,
        # the person's first keeps the id and the other its own
        out: dict[int, int] = {}
        taken: set[int] = set()
        for t in sorted((t for t in ids if t not in born), key=lambda t: (self.shown(t) != t, t)):
            if self.shown(t) in taken:
                self.alias.pop(t, None)
            out[t] = self.shown(t)
            taken.add(out[t])
        if not born:  # most frames: nobody new, so no lost person to rebuild and compare (this runs every frame)
            return [out[t] for t in ids]
        join = Joiner(fps, self.cfg)
        lost = {self.shown(t.track_id) for t in tracks
                if frame - join.max_gap <= t.frames[-1] < frame} - taken
        people = {r: self.person(tracks, r) for r in lost}
        costs = [(join.successor(people[r], tracks[b]), r, b) for r in lost for b in born]
        for _, r, b in sorted(c for c in costs if np.isfinite(c[0])):
            if r not in taken and b not in out:
                self.alias[b] = r
                out[b] = r
                taken.add(r)
        for b in born:
            out.setdefault(b, b)
        return [out[t] for t in ids]
