"""Where the thorax, neck and head sit: a convention that differs between skeletons and 2D models.

The 14 limb and hip joints mean the same thing in every source here; the thorax, neck/nose and head do not. This
measures them in the body's own frame, so that any two sources can be compared: each joint's offset from the
shoulders' midpoint along the body's up and forward axes (``skeleton.body_axes``), in trunk lengths (pelvis to
the shoulders' midpoint), the median over frames. Sources: each skeleton of the main mocap file (training,
validation and test subjects apart), each extra mocap file, and BlazePose's landmarks as ``skeleton.to_h36m``
maps them (``mediapipe33``: thorax = mid-shoulders, neck = mid-ears, head = eyes pushed up), measured on the
real-video benchmark's frozen 3D references (triangulated BlazePose, ``benchmarks/data``).

``--realvideo WHEEL`` then runs ``benchmarks/realvideo.py --no-mediapipe`` with the front end's thorax, neck
and head moved to the training skeletons' convention (a measured linear remap of the mapped joints; the
reference and the other systems keep BlazePose's): ``--variant up`` moves the neck and head along the
shoulders-to-ears direction only, ``neck_head`` also forward (ears minus eyes), ``all`` the thorax too. The
remap is patched into the benchmark's front end here; it is not a product setting (it did not pay:
docs/results.md).

Rerun: python benchmarks/joint_definitions.py [--realvideo WHEELS/pose2sim-0.10.49-py3-none-any.whl
--variant up|neck_head|all]
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

import numpy as np

from occlupose.data import extra_mocap_path, load_mocap
from occlupose.skeleton import CONVENTION_JOINTS, JOINT_NAMES, NUM_JOINTS, J, body_axes

HERE = Path(__file__).parent
REFERENCE = HERE / "data" / "realvideo_reference_{scene}.npz"
TEST = ("S06", "S16", "S131")
VALIDATION = ("S08", "S13")


def offsets(poses: np.ndarray) -> np.ndarray:
    """(N, 17, 3) poses -> (17, 2): each joint's median offset from the shoulders' midpoint, (up, forward) in
    trunk lengths. Frames with a missing joint are left out."""
    poses = poses[np.isfinite(poses).all(axis=(1, 2))]
    up, forward, length = body_axes(poses)
    mid = 0.5 * (poses[:, J["l_shoulder"]] + poses[:, J["r_shoulder"]])
    rel = (poses - mid[:, None]) / length[:, None, None]  # (N, 17, 3)
    return np.median(np.stack([(rel * up[:, None]).sum(-1), (rel * forward[:, None]).sum(-1)], -1), axis=0)


def sources(step: int = 5) -> dict[str, np.ndarray]:
    """name -> (N, 17, 3) poses (every ``step``-th frame)."""
    main = load_mocap()
    test = [s for s in TEST if s in main.subjects()]
    train = [s for s in main.subjects() if s not in TEST + VALIDATION]

    def frames(m, keys):
        return np.concatenate([m.clips[k][::step] for k in keys])

    out = {"training subjects": frames(main, main.keys(subjects=train)),
           "validation S08, S13": frames(main, main.keys(subjects=list(VALIDATION)))}
    for s in test:
        out[f"test {s}"] = frames(main, main.keys(subjects=[s]))
    for name in ("hdm05", "cmu_extra"):
        m = load_mocap(extra_mocap_path(name))
        out[name] = frames(m, m.keys())
    for scene in ("multi", "single"):
        path = Path(str(REFERENCE).format(scene=scene))
        if path.exists():
            out[f"BlazePose ({scene} reference)"] = np.load(path)["world"]
    return out


def eyes_of(poses: np.ndarray) -> np.ndarray:
    """The eyes' midpoint back from the mapped head (``to_h36m``: head = eyes + 0.25 (eyes - thorax))."""
    return 0.8 * poses[..., J["head"], :] + 0.2 * poses[..., J["thorax"], :]


def remap_matrix(target: np.ndarray, ears: np.ndarray, eyes: np.ndarray, variant: str) -> np.ndarray:
    """(17, 17) weights taking BlazePose's mapped joints to ``target`` (17, 2) offsets (the training
    convention): new = M + a (E - M) + b (E - eyes), M the thorax (mid-shoulders), E the neck (mid-ears), eyes
    from the head; a and b solve the (up, forward) offsets from ``ears`` and ``eyes`` (2,) measured on
    BlazePose (``up``: b = 0, a from the up offsets alone)."""
    m, e, h = J["thorax"], J["neck_nose"], J["head"]
    w = np.eye(NUM_JOINTS)
    joints = ["neck_nose", "head"] + (["thorax"] if variant == "all" else [])
    back = ears - eyes
    for name in joints:
        if variant == "up":
            a, b = target[J[name], 0] / ears[0], 0.0
        else:
            a, b = np.linalg.solve(np.stack([ears, back], axis=1), target[J[name]])
        row = np.zeros(NUM_JOINTS)
        row[m] += 1 - a - 0.2 * b  # eyes = 0.8 head + 0.2 thorax
        row[e] += a + b
        row[h] -= 0.8 * b
        w[J[name]] = row
    if variant == "all":  # the spine stays halfway between the pelvis and the (moved) thorax
        w[J["spine"]] = 0.5 * (w[J["thorax"]] + w[J["hip"]])
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realvideo", metavar="WHEEL", help="also run realvideo.py with the remapped front end")
    ap.add_argument("--variant", choices=["up", "neck_head", "all"], default="up")
    ap.add_argument("--model", nargs="+", help="passed on to realvideo.py")
    args = ap.parse_args()

    poses = sources()
    found = {name: offsets(p) for name, p in poses.items()}
    print("Offsets from the shoulders' midpoint, trunk lengths (up, forward; forward's sign is one convention "
          "for every source), median over frames\n")
    print("| source | " + " | ".join(JOINT_NAMES[j] for j in CONVENTION_JOINTS) + " |")
    print("|---|" + "---|" * len(CONVENTION_JOINTS))
    for name, off in found.items():
        print(f"| {name} | " + " | ".join(f"{off[j, 0]:+.2f}, {off[j, 1]:+.2f}" for j in CONVENTION_JOINTS) + " |")

    if not args.realvideo:
        print("\nrerun: python benchmarks/joint_definitions.py")
        return
    refs = [p for name, p in poses.items() if name.startswith("BlazePose")]
    if not refs:
        sys.exit("no real-video reference in benchmarks/data: nothing to measure BlazePose's convention on")
    ref = np.concatenate(refs)
    ref = ref[np.isfinite(ref).all(axis=(1, 2))]
    eyes = ref.copy()
    eyes[:, J["head"]] = eyes_of(ref)
    ears_off, eyes_off = offsets(ref)[J["neck_nose"]], offsets(eyes)[J["head"]]
    w = remap_matrix(found["training subjects"], ears_off, eyes_off, args.variant)
    print(f"\nvariant {args.variant}: BlazePose ears {ears_off.round(3)}, eyes {eyes_off.round(3)}; the remap's "
          "rows for the thorax, neck and head (over thorax, neck, head):")
    for j in CONVENTION_JOINTS:
        print(f"  {JOINT_NAMES[j]}: {w[j, CONVENTION_JOINTS].round(3)}")

    import occlupose.pipeline as pipeline

    named = pipeline.to_h36m
    used = w != 0

    def remapped(keypoints: np.ndarray, scores: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
        kp, sc = named(keypoints, scores, layout)
        conf = np.where(used, sc[..., None, :], np.inf).min(-1)
        return np.einsum("jk,...kd->...jd", w, kp), conf

    pipeline.to_h36m = remapped  # the front end only: realvideo.py maps the reference and MediaPipe itself
    sys.path.insert(0, str(HERE))
    sys.argv = ["realvideo.py", "--wheel", args.realvideo, "--no-mediapipe", *(["--model", *args.model]
                                                                               if args.model else [])]
    runpy.run_path(str(HERE / "realvideo.py"), run_name="__main__")
    print(f"rerun: python benchmarks/joint_definitions.py --realvideo {args.realvideo} --variant {args.variant}")


if __name__ == "__main__":
    main()
