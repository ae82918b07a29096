"""occlupose view: the page's data, its command, and the page itself in a real browser (headless Chromium).

The browser tests need Debian's Chromium (/usr/bin/chromium) and the playwright package; without them they are
skipped, unless OCCLUPOSE_BROWSER_TESTS=require (CI sets it and installs both), where they fail instead."""

import json
import os
import shutil

import numpy as np
import pytest
from badfiles import make_video
from poses import t_pose

from occlupose.cli import main
from occlupose.outputs import PersonTrack, write_tracks
from occlupose.render import TRACK_COLOURS
from occlupose.viewer import build_page, load_result, page_data

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
W, H, T = 320, 240, 12


def camera_pose() -> np.ndarray:
    """(17, 3) the T-pose in the camera frame (x right, y down, z forward), root-relative, facing the camera."""
    p = t_pose()
    return np.stack([p[:, 0], -p[:, 2], -p[:, 1]], -1)


def result_folder(tmp_path, with_video: bool = True):
    """A run's output folder: two people 4 m away, 1 m apart, walking right; person 0's left wrist missing in
    every frame; the video (plain grey frames) named in poses3d.json."""
    frames = np.arange(T)
    tracks = []
    for k in range(2):
        root = np.stack([np.full(T, -0.5 + k) + 0.02 * frames, np.full(T, 0.1), np.full(T, 4.0)], -1)
        poses = np.repeat(camera_pose()[None], T, 0)
        cam = poses + root[:, None]
        kp = 250 * cam[..., :2] / cam[..., 2:] + [W / 2, H / 2]
        reliable = np.ones((T, 17), bool)
        if k == 0:
            reliable[:, 13] = False
        tracks.append(PersonTrack(k, frames, poses, kp, reliable * 0.9, reliable, frames / 10.0, root))
    out = tmp_path / "out"
    source = None
    if with_video:
        video = make_video(tmp_path / "clip.mp4", [np.full((H, W, 3), 90, np.uint8)] * T, fps=10.0)
        source = {"video": str(video), "width": W, "height": H}
    write_tracks(out, tracks, 10.0, camera={"focal_px": 250.0, "cx": W / 2, "cy": H / 2, "note": "given"},
                 source=source)
    return out


def test_page_data_is_compact_and_places_people(tmp_path):
    doc = load_result(result_folder(tmp_path, with_video=False))
    data = page_data(doc, None, missing="no video")
    assert data["scene"]["placed"] is True
    roots = np.concatenate([np.asarray(t["root"]) for t in doc["tracks"]])
    np.testing.assert_allclose(data["scene"]["centre"], np.median(roots, 0), atol=1e-3)
    # the feet (ankles at 0.9 m below the pelvis, y down) of a root at y = 0.1: the floor at world y = -1.0
    assert data["scene"]["floor"] == pytest.approx(-1.0, abs=1e-3)
    rel = data["tracks"][0]["reliable"]
    assert len(rel) == T and rel[0] == "1" * 13 + "0" + "1" * 3 and data["tracks"][1]["reliable"][0] == "1" * 17
    assert data["video"]["src"] is None and data["video"]["missing"] == "no video"
    assert data["tracks"][1]["poses_3d"][0][10] == [0, -750, 0]  # the head, 0.75 m up, in millimetres
    doc["tracks"][0]["keypoints_2d"][3][5] = [float("nan"), 1.0]  # a keypoint that is not there: null
    assert page_data(doc, None)["tracks"][0]["keypoints_2d"][3][5] is None
    page = build_page(doc, None, missing="</script><script>alert(1)</script>")
    assert "</script><script>alert(1)" not in page  # data cannot end its own script element


def test_view_command(tmp_path, capsys):
    out = result_folder(tmp_path)
    assert main(["view", str(out), "--no-open"]) == 0
    page = (out / "viewer.html").read_text()
    assert "data:video/webm;base64," in page and len(page) < 1_000_000
    assert main(["view", str(out), "--no-open"]) == 2  # not replaced without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    (tmp_path / "clip.mp4").unlink()  # the video moved away: the 3D alone, and it says why
    assert main(["view", str(out), "--no-open", "--overwrite"]) == 0
    assert "no longer there" in capsys.readouterr().err
    assert main(["view", str(tmp_path / "nothing"), "--no-open"]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["view", str(tmp_path / "empty"), "--no-open"]) == 2
    assert "poses3d.json" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "poses3d.json").write_text(json.dumps({"tracks": [{"id": 0, "frames": [0], "poses_3d": [[0, 0]]}]}))
    assert main(["view", str(bad), "--no-open"]) == 2


@pytest.fixture(scope="module")
def browser():
    required = os.environ.get("OCCLUPOSE_BROWSER_TESTS") == "require"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed")
    if not CHROMIUM:
        if required:
            pytest.fail("OCCLUPOSE_BROWSER_TESTS=require but no chromium on PATH")
        pytest.skip("no Chromium (Debian: apt install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def project(points: np.ndarray, cam: dict) -> np.ndarray:
    """The page's perspective camera, computed here from its orbit parameters alone (yaw, pitch, distance,
    target, focal): (N, 3) world points (y up) -> (N, 2) CSS pixels of the 3D canvas."""
    cp, sp, cy, sy = np.cos(cam["pitch"]), np.sin(cam["pitch"]), np.cos(cam["yaw"]), np.sin(cam["yaw"])
    f = np.array([-cp * sy, -sp, cp * cy])
    eye = np.asarray(cam["target"]) - cam["dist"] * f
    r = np.cross([0.0, 1.0, 0.0], f)
    r /= np.linalg.norm(r)
    u = np.cross(f, r)
    d = points - eye
    z = d @ f
    return np.stack([cam["width"] / 2 + cam["focal"] * (d @ r) / z, cam["height"] / 2 - cam["focal"] * (d @ u) / z], -1)


def test_the_page_in_chromium_draws_the_skeletons_where_they_are(browser, tmp_path):
    out = result_folder(tmp_path)
    assert main(["view", str(out), "--no-open"]) == 0
    page = browser.new_page(viewport={"width": 1000, "height": 600})
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto((out / "viewer.html").resolve().as_uri())
    page.wait_for_function("window.occluposeViewer && window.occluposeViewer.ready", timeout=20000)
    page.evaluate("occluposeViewer.setFrame(6)")
    page.wait_for_timeout(300)
    state = page.evaluate("({frame: occluposeViewer.frame, cam: occluposeViewer.camera, "
                          "proj: occluposeViewer.projected, overlay: occluposeViewer.overlay, "
                          "errors: occluposeViewer.errors})")
    assert problems == [] and state["errors"] == []
    assert state["frame"] == 6 and set(state["proj"]) == {"0", "1"}
    doc = load_result(out)
    cam = state["cam"]
    cw, ch = page.evaluate("[document.getElementById('overlay').clientWidth, "
                           "document.getElementById('overlay').clientHeight]")
    s = min(cw / W, ch / H)
    for t in doc["tracks"]:
        # the page carries whole millimetres
        world = np.round(np.asarray(t["poses_3d"][6]) * 1000) / 1000 + np.round(np.asarray(t["root"][6]), 3)
        world[:, 1] *= -1  # the page's world has y up
        np.testing.assert_allclose(state["proj"][str(t["id"])], project(world, cam), atol=0.01)
        # the 2D over the video: the keypoints scaled into the video's box
        expect = np.round(t["keypoints_2d"][6]) * s + [(cw - W * s) / 2, (ch - H * s) / 2]  # whole pixels
        np.testing.assert_allclose(state["overlay"][str(t["id"])], expect, atol=0.2)
    # the pixels: a reliable joint's dot in the person's colour, the missing wrist a red ring
    box = page.locator("#scene").bounding_box()
    shot = page.locator("#scene").screenshot()
    import cv2

    img = cv2.cvtColor(cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    scale = img.shape[1] / box["width"]
    colour = TRACK_COLOURS[1].astype(int)
    x, y = (np.asarray(state["proj"]["1"][10]) * scale).round().astype(int)  # person 1's head
    assert np.abs(img[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3) - colour).sum(1).min() < 40
    x, y = (np.asarray(state["proj"]["0"][13]) * scale).round().astype(int)  # person 0's missing left wrist
    patch = img[y - 8:y + 9, x - 8:x + 9].reshape(-1, 3).astype(int)
    assert (np.abs(patch - [230, 40, 40]).sum(1) < 60).any()
    # hiding person 1 in the person list removes it from the scene
    page.locator("input[data-track='1']").uncheck()
    assert set(page.evaluate("Object.keys(occluposeViewer.projected)")) == {"0"}
    page.close()


def test_the_page_orbits_and_plays_in_chromium(browser, tmp_path):
    out = result_folder(tmp_path)
    assert main(["view", str(out), "--no-open"]) == 0
    page = browser.new_page(viewport={"width": 1000, "height": 600})
    page.goto((out / "viewer.html").resolve().as_uri())
    page.wait_for_function("window.occluposeViewer && window.occluposeViewer.ready", timeout=20000)
    # the video inside the page loads, and is as long as the clip (12 frames at 10 frames/s)
    page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=20000)
    assert page.evaluate("document.getElementById('video').duration") == pytest.approx(1.2, abs=0.11)
    before = page.evaluate("occluposeViewer.camera")
    box = page.locator("#scene").bounding_box()
    page.mouse.move(box["x"] + 200, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 300, box["y"] + 220, steps=5)
    page.mouse.up()
    after = page.evaluate("occluposeViewer.camera")
    assert after["yaw"] == pytest.approx(before["yaw"] - 100 * 0.008, abs=1e-6)
    assert after["pitch"] == pytest.approx(before["pitch"] + 20 * 0.008, abs=1e-6)
    page.mouse.wheel(0, 300)
    page.wait_for_timeout(100)
    assert page.evaluate("occluposeViewer.camera.dist") == pytest.approx(after["dist"] * np.exp(0.3), rel=1e-6)
    page.keyboard.press("ArrowRight")
    assert page.evaluate("occluposeViewer.frame") == 1
    page.close()
