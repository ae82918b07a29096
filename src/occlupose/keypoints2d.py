"""2D keypoint datasets for the hourglass: COCO- and MPII-style annotations, person crops and augmentation.

Every person becomes a :class:`PersonSample` in the H36M-17 layout with a state per joint: 0 unlabelled (not a
claim either way: no loss), 1 labelled but occluded (Eq. 1: an all-zero target), 2 visible (a Gaussian peak).
COCO's ``v`` is exactly this; a derived H36M joint (pelvis, spine, ...) takes the lowest state of its sources.
Crops are squares around the person's box (the longer side times a margin, so the aspect ratio is kept), with
the paper's usual augmentation: scale, rotation and a horizontal flip that swaps left and right.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import read_json
from .deps import require
from .skeleton import FLIP_PERMUTATION, to_h36m

UNLABELLED, OCCLUDED, VISIBLE = 0, 1, 2


@dataclass
class PersonSample:
    """One annotated person: image path, box (4,) x0 y0 x1 y1 px, keypoints (17, 2) px, state (17,) 0/1/2."""

    image: str
    box: np.ndarray
    keypoints: np.ndarray
    state: np.ndarray


def load_coco_keypoints(path: str | os.PathLike, min_keypoints: int = 1) -> list[PersonSample]:
    """Person keypoint annotations of a COCO-style JSON (``images``, ``annotations`` with ``keypoints`` as 17
    x, y, v triplets and ``bbox`` x, y, w, h). Crowds and people with fewer than ``min_keypoints`` labelled
    keypoints are skipped."""
    data = read_json(path, "annotation file")
    if not isinstance(data, dict) or "annotations" not in data or "images" not in data:
        raise ValueError(f"{path}: expected a COCO keypoints file with 'images' and 'annotations'")
    files = {img["id"]: img["file_name"] for img in data["images"]}
    out = []
    for i, ann in enumerate(data["annotations"]):
        if ann.get("iscrowd", 0) or "keypoints" not in ann:
            continue
        kp = np.asarray(ann["keypoints"], float)
        if kp.size != 51:
            raise ValueError(f"{path}: annotation {i} has {kp.size} keypoint values, expected 17 x 3 = 51")
        kp = kp.reshape(17, 3)
        if (kp[:, 2] > 0).sum() < min_keypoints:
            continue
        if ann["image_id"] not in files:
            raise ValueError(f"{path}: annotation {i} refers to unknown image_id {ann['image_id']}")
        pts, state = to_h36m(kp[:, :2], np.clip(kp[:, 2], 0, 2), "coco17")
        x, y, w, h = (float(v) for v in ann["bbox"])
        out.append(PersonSample(files[ann["image_id"]], np.array([x, y, x + w, y + h]), pts,
                                state.astype(np.int8)))
    return out


def load_mpii_json(path: str | os.PathLike) -> list[PersonSample]:
    """MPII in the common JSON form (a list of ``image``, ``center``, ``scale`` = box height / 200 px,
    ``joints`` 16 x 2, ``joints_vis`` 16 labelled flags, optionally ``visible`` 16 flags from MPII's
    ``is_visible``; without it a labelled joint counts as visible)."""
    data = read_json(path, "annotation file")
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of MPII person annotations")
    out = []
    for i, a in enumerate(data):
        try:
            joints = np.asarray(a["joints"], float).reshape(16, 2)
            labelled = np.asarray(a["joints_vis"], float).reshape(16) > 0
            visible = np.asarray(a.get("visible", labelled), float).reshape(16) > 0
            centre, side = np.asarray(a["center"], float).reshape(2), 200.0 * float(a["scale"])
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: entry {i} is not an MPII annotation ({exc})") from exc
        state16 = labelled * (1 + visible)
        pts, state = to_h36m(joints, state16.astype(float), "mpii16")
        box = np.concatenate([centre - side / 2, centre + side / 2])
        out.append(PersonSample(a["image"], box, pts, state.astype(np.int8)))
    return out


@dataclass(frozen=True)
class CropAugment:
    """Training-time augmentation (Newell et al.'s): flips, rotation and scale."""

    flip_prob: float = 0.5
    rotation_prob: float = 0.6
    max_rotation_deg: float = 30.0
    scale_range: float = 0.25
    #: crop side = longer box side x margin
    margin: float = 1.25


def crop_matrix(box: np.ndarray, size: int, margin: float = 1.25, scale: float = 1.0, rotation_deg: float = 0.0,
                flip: bool = False) -> np.ndarray:
    """(2, 3) affine image -> crop: the box centre to the crop centre, the longer box side x margin / scale
    to ``size`` pixels (aspect kept), rotated by ``rotation_deg`` about the centre, mirrored if ``flip``."""
    box = np.asarray(box, float)
    centre = (box[:2] + box[2:]) / 2
    side = max(box[2] - box[0], box[3] - box[1], 1.0) * margin / scale
    s = size / side
    a = np.deg2rad(rotation_deg)
    rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) * s
    if flip:
        rot[0] = -rot[0]
    c = (size - 1) / 2
    return np.concatenate([rot, (np.array([c, c]) - rot @ centre)[:, None]], 1)


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(2, 3) affine applied to (..., 2) points."""
    return points @ m[:, :2].T + m[:, 2]


class KeypointCrops:
    """Person crops of an annotated image set, ready for the hourglass.

    ``batch(rng, n)`` returns images (n, 3, S, S) float32 in [0, 1], keypoints (n, 17, 2) crop pixels and
    state (n, 17); a keypoint pushed out of the crop by the augmentation becomes occluded (it is not in the
    picture, so its map must be zero)."""

    def __init__(self, samples: list[PersonSample], image_root: str | os.PathLike, size: int = 256,
                 augment: CropAugment | None = CropAugment()):
        if not samples:
            raise ValueError("no annotated people to train on")
        self.samples, self.root, self.size, self.augment = samples, Path(image_root), size, augment
        self.cv2 = require("cv2", "reading training images")

    def __len__(self) -> int:
        return len(self.samples)

    def item(self, i: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.samples[i]
        path = self.root / s.image
        img = self.cv2.imread(str(path), self.cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{path}: missing or unreadable image")
        img = self.cv2.cvtColor(img, self.cv2.COLOR_BGR2RGB)
        aug, scale, rot, flip = self.augment, 1.0, 0.0, False
        margin = aug.margin if aug else CropAugment().margin
        if aug is not None and rng is not None:
            scale = float(np.clip(1 + aug.scale_range * rng.standard_normal(), 1 - aug.scale_range,
                                  1 + aug.scale_range))
            if rng.random() < aug.rotation_prob:
                rot = float(np.clip(aug.max_rotation_deg / 2 * rng.standard_normal(), -aug.max_rotation_deg,
                                    aug.max_rotation_deg))
            flip = bool(rng.random() < aug.flip_prob)
        m = crop_matrix(s.box, self.size, margin, scale, rot, flip)
        crop = self.cv2.warpAffine(img, m, (self.size, self.size), flags=self.cv2.INTER_LINEAR,
                                   borderMode=self.cv2.BORDER_CONSTANT)
        kp, state = apply_affine(m, s.keypoints), s.state.copy()
        if flip:  # the mirrored person's left arm is the original right arm
            kp, state = kp[FLIP_PERMUTATION], state[FLIP_PERMUTATION]
        outside = ((kp < 0) | (kp > self.size - 1)).any(-1)
        state = np.where(outside & (state > 0), OCCLUDED, state)
        return crop, kp, state

    def batch(self, rng: np.random.Generator, n: int, indices: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = rng.integers(0, len(self), n) if indices is None else np.asarray(indices)
        items = [self.item(int(i), rng if self.augment else None) for i in idx]
        images = np.stack([c for c, _, _ in items]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        kps = np.stack([k for _, k, _ in items]).astype(np.float32)
        states = np.stack([s for _, _, s in items]).astype(np.int8)
        return images, kps, states
