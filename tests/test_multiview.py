"""Multi-camera geometry: projection with distortion, its inversion, Qualisys calibration files and DLT
triangulation, against cameras and points built here."""

import numpy as np
import pytest

from occlupose.multiview import Camera, read_qca, triangulate


def look_at(centre, target) -> np.ndarray:
    """World -> camera rotation of a camera at ``centre`` looking at ``target`` (Z up in the world)."""
    z = np.asarray(target, float) - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, [0, 0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


def ring_cameras(n=4, dist=np.zeros(5)) -> list[Camera]:
    K = np.array([[1500.0, 0, 540], [0, 1500.0, 960], [0, 0, 1]])
    cams = []
    for i in range(n):
        a = 2 * np.pi * i / n
        c = np.array([4 * np.cos(a), 4 * np.sin(a), 1.5])
        R = look_at(c, [0, 0, 1.0])
        cams.append(Camera(f"c{i}", (1080, 1920), K, dist, R, -R @ c))
    return cams


def test_projection_hand_case():
    cam = Camera("c", (100, 100), np.array([[100.0, 0, 50], [0, 100.0, 40], [0, 0, 1]]), np.zeros(5), np.eye(3),
                 np.array([0, 0, 2.0]))
    # (0.2, -0.4, 0) is 2 m in front: x/z = 0.1, y/z = -0.2 -> (50 + 10, 40 - 20)
    np.testing.assert_allclose(cam.project(np.array([0.2, -0.4, 0.0])), [60, 20])
    np.testing.assert_allclose(cam.centre, [0, 0, -2])


def test_undistort_inverts_distort(rng):
    cam = ring_cameras(1, np.array([-0.2, 0.1, 0.001, -0.002, 0.01]))[0]
    xy = rng.uniform(-0.3, 0.3, (50, 2))
    np.testing.assert_allclose(cam.undistort(cam.distort(xy)), xy, atol=1e-9)
    # a radial term moves a point off the axis: k1 < 0 pulls it towards the centre
    assert abs(cam.distort(np.array([0.3, 0.0]))[0] - 540) < 0.3 * 1500


def test_triangulation_recovers_points_and_ignores_unseen_views(rng):
    cams = ring_cameras(4, np.array([-0.05, 0.01, 0.0, 0.0, 0.0]))
    X = rng.uniform([-0.5, -0.5, 0.2], [0.5, 0.5, 1.8], (30, 17, 3))
    uv = np.stack([c.project(X) for c in cams])
    xy = np.stack([c.undistort(uv[i]) for i, c in enumerate(cams)])
    P = np.stack([c.P for c in cams])
    np.testing.assert_allclose(triangulate(xy, np.ones((4, 30, 17)), P), X, atol=1e-6)
    w = np.ones((4, 30, 17))
    bad = xy.copy()
    bad[0] += 0.5  # a view that is wrong but weighted 0 changes nothing
    w[0] = 0
    np.testing.assert_allclose(triangulate(bad, w, P), X, atol=1e-6)
    w[1:3, 0, 0] = 0  # one view left for that joint: no point
    out = triangulate(bad, w, P)
    assert np.isnan(out[0, 0]).all() and np.isfinite(out[1:]).all()


def test_read_qca_matches_the_camera_it_describes(tmp_path):
    """A Qualisys file written from a known camera: rows of the rotation are the camera's axes with y up and
    z backwards, position in mm, intrinsics in 1/64 pixel."""
    cam = ring_cameras(4)[1]
    axes = np.diag([1.0, -1.0, -1.0]) @ cam.R
    c = cam.centre * 1000
    r = " ".join(f'r{i + 1}{j + 1}="{axes[i, j]!r}"' for i in range(3) for j in range(3))
    K = cam.K * 64
    xml = f"""<?xml version='1.0'?>
<calibration><cameras>
<camera active="1" serial="cam07" avg-residual="0.4" model="none">
<fov_video bottom="1919" left="0" right="1079" top="0"/>
<transform {r} x="{c[0]!r}" y="{c[1]!r}" z="{c[2]!r}"/>
<intrinsic centerPointU="{K[0, 2]}" centerPointV="{K[1, 2]}" focalLengthU="{K[0, 0]}" focalLengthV="{K[1, 1]}"
 radialDistortion1="0" radialDistortion2="0" radialDistortion3="0" skew="0" tangentalDistortion1="0"
 tangentalDistortion2="0" sensorMaxU="69056" sensorMaxV="122816"/>
</camera>
<camera active="0" serial="off"/>
</cameras></calibration>"""
    path = tmp_path / "Calib.qca.txt"
    path.write_text(xml)
    (got,) = read_qca(path)
    assert got.name == "cam07" and got.size == (1080, 1920)
    np.testing.assert_allclose(got.K, cam.K)
    np.testing.assert_allclose(got.R, cam.R, atol=1e-12)
    np.testing.assert_allclose(got.t, cam.t, atol=1e-9)
    X = np.array([[0.1, 0.2, 1.0], [0.3, -0.2, 0.5]])
    np.testing.assert_allclose(got.project(X), cam.project(X), atol=1e-6)
    path.write_text("<calibration><cameras>")
    with pytest.raises(ValueError, match="Qualisys"):
        read_qca(path)
