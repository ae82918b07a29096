"""Person detection helpers that need no model: tiles for small people, and their merging."""

import numpy as np
import pytest

from occlupose.detect import TiledDetector, tile_origins


def test_tiles_cover_the_frame_evenly_with_the_overlap_asked():
    # 544 x 960 (a 1080x1920 portrait frame shrunk for the detector), tiles of 362 px (1.5 across)
    xy = tile_origins(960, 544, 362, 0.2)
    np.testing.assert_array_equal(np.unique(xy[:, 0]), [0, 182])  # 182 px of room: 2 columns
    # 598 px of room, steps of at most 0.8 x 362 = 289.6: 3 steps, 4 rows
    np.testing.assert_array_equal(np.unique(xy[:, 1]), [0, 199, 399, 598])
    assert len(xy) == 8
    # every pixel lies in some tile, and neighbours share at least the overlap
    ys = np.unique(xy[:, 1])
    assert ys[-1] + 362 == 960 and (362 - np.diff(ys) >= 0.2 * 362).all()
    # a frame no larger than a tile is one tile
    np.testing.assert_array_equal(tile_origins(300, 200, 362, 0.2), [[0, 0]])


class BlobDetector:
    """Finds the one bright square in its input when it spans at least ``min_share`` of the input's longer
    side (as the BlazePose detector misses people small in its 224 px view); records each input's size."""

    def __init__(self, min_share: float = 0.2):
        self.min_share, self.calls = min_share, []

    def __call__(self, frame):
        self.calls.append(frame.shape[:2])
        ys, xs = np.nonzero(frame[..., 0] > 200)
        if not len(xs):
            return np.zeros((0, 4)), np.zeros(0)
        box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], float)
        if (box[0, 3] - box[0, 1]) < self.min_share * max(frame.shape[:2]):
            return np.zeros((0, 4)), np.zeros(0)
        return box, np.array([0.9])


def frame_with_square(x0, y0, side, h=960, w=544):
    frame = np.zeros((h, w, 3), np.uint8)
    frame[y0:y0 + side, x0:x0 + side] = 255
    return frame


def test_a_small_person_missed_in_the_whole_frame_is_found_in_a_tile_in_frame_pixels():
    small = frame_with_square(400, 700, 100)  # 100 px: under 0.2 x 960 in the whole frame, over 0.2 x 362
    blob = BlobDetector()
    assert len(blob(small)[0]) == 0
    boxes, scores = TiledDetector(blob, per_side=1.5)(small)
    np.testing.assert_allclose(boxes, [[400, 700, 500, 800]])  # one box, though 2 tiles held the square
    np.testing.assert_allclose(scores, [0.9])
    assert blob.calls[1:] == [(960, 544)] + [(362, 362)] * 8


def test_a_big_person_is_the_whole_frames_box_not_a_tiles_piece_of_them():
    big = frame_with_square(100, 300, 400)  # found in the whole frame; tiles see pieces of it
    boxes, _ = TiledDetector(BlobDetector())(big)
    np.testing.assert_allclose(boxes, [[100, 300, 500, 700]])
    # a frame too small for tiles is only looked at whole
    blob = BlobDetector()
    TiledDetector(blob, per_side=1.5)(frame_with_square(10, 10, 100, h=300, w=300))
    assert blob.calls == [(300, 300)]


def test_tiles_per_side_below_one_is_refused():
    with pytest.raises(ValueError, match="tiles per side"):
        TiledDetector(BlobDetector(), per_side=0.5)
