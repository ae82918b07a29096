"""Cylinder Man labelling speed (pose-views/s) and the occluded fraction over the training split.

Rerun: python benchmarks/cylinder_labels.py [--threads 2] [--n 200000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from occlupose.camera import sample_virtual_rotations
from occlupose.cylinder import rotate, visibility
from occlupose.data import load_mocap
from occlupose.skeleton import JOINT_NAMES


def best_of(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=200_000, help="pose-views per timed batch")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    mocap = load_mocap()
    poses = np.concatenate([mocap.clips[k] for k in mocap.keys("train")])
    rng = np.random.default_rng(0)
    world = torch.as_tensor(poses[rng.integers(0, len(poses), args.n)])
    rots = torch.as_tensor(sample_virtual_rotations(args.n, rng).astype(np.float32))
    print(f"# Cylinder Man benchmark: {args.n} pose-views, {args.threads} threads, float32, CPU")
    print(f"command: python benchmarks/cylinder_labels.py --threads {args.threads} --n {args.n}")

    def hard():
        return visibility(rotate(world, rots))

    def persp():
        cam = rotate(world, rots)
        cam[..., 2] += 5.0
        return visibility(cam, perspective=True)

    sub = world[:16384].clone().requires_grad_(True)

    def soft_backward():
        v = visibility(rotate(sub, rots[:16384]), soft=True)
        v.sum().backward()

    for name, fn, n in [("hard, orthographic (rotate + label)", hard, args.n),
                        ("hard, perspective", persp, args.n),
                        ("soft + backward (training regulariser)", soft_backward, 16384)]:
        dt = best_of(fn)
        print(f"{name:42s} {n / dt:12,.0f} pose-views/s")

    # occluded fraction: 100 virtual views per training pose (Sec. 4.2), every 10th pose
    sel = poses[::10]
    vis = []
    for _ in range(100):
        r = sample_virtual_rotations(len(sel), rng).astype(np.float32)
        vis.append(visibility(rotate(torch.as_tensor(sel), torch.as_tensor(r))).numpy())
    vis = np.stack(vis)
    print(f"\noccluded fraction over {vis.shape[0]} views x {vis.shape[1]} training poses: {1 - vis.mean():.3f}")
    per_joint = 1 - vis.mean((0, 1))
    print("per joint: " + ", ".join(f"{n} {p:.2f}" for n, p in zip(JOINT_NAMES, per_joint)))


if __name__ == "__main__":
    main()
