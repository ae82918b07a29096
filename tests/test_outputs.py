import csv
import json

import numpy as np
import pytest

from occlupose.bvh import read_bvh
from occlupose.outputs import PersonTrack, write_tracks


def make_track(track_id, start, t, rng):
    from test_bvh import fk_sequence

    return PersonTrack(track_id, np.arange(start, start + t), fk_sequence(rng, t), rng.uniform(0, 640, (t, 17, 2)),
                       rng.uniform(0, 1, (t, 17)), rng.random((t, 17)) > 0.2)


def test_every_output_is_readable_and_consistent(tmp_path, rng):
    tracks = [make_track(0, 0, 30, rng), make_track(3, 12, 18, rng)]
    paths = write_tracks(tmp_path, tracks, 25.0)
    assert all(p.exists() for p in paths)
    z = np.load(tmp_path / "poses3d.npz")
    assert z["track_ids"].tolist() == [0, 3]
    np.testing.assert_array_equal(z["track3_frames"], np.arange(12, 30))
    np.testing.assert_allclose(z["track0_poses_3d"], tracks[0].poses_3d)
    doc = json.loads((tmp_path / "poses3d.json").read_text())
    assert [t["id"] for t in doc["tracks"]] == [0, 3]
    assert np.array(doc["tracks"][1]["poses_3d"]).shape == (18, 17, 3)
    with open(tmp_path / "poses3d.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == (30 + 18) * 17
    r = next(r for r in rows if r["track"] == "3" and r["frame"] == "12" and r["joint"] == "l_wrist")
    assert float(r["x"]) == pytest.approx(tracks[1].poses_3d[0, 13, 0], abs=1e-4)
    for t in tracks:
        back, fps = read_bvh(tmp_path / f"track{t.track_id}.bvh")
        assert len(back) == len(t.frames) and fps == pytest.approx(25.0)
        assert np.abs(back - t.poses_3d).max() < 1e-3


def test_outputs_are_not_overwritten_unless_asked(tmp_path, rng):
    tracks = [make_track(0, 0, 5, rng)]
    write_tracks(tmp_path, tracks, 30.0)
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_tracks(tmp_path, tracks, 30.0)
    write_tracks(tmp_path, tracks, 30.0, overwrite=True)


def test_bad_track_shapes():
    with pytest.raises(ValueError, match="poses_3d must be"):
        PersonTrack(0, np.arange(3), np.zeros((2, 17, 3)), np.zeros((3, 17, 2)), np.zeros((3, 17)),
                    np.zeros((3, 17), bool))
