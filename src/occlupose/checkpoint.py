"""Reading the package's tagged checkpoints (lifter, hourglass): one set of checks, one set of clear errors
for a missing file, a file PyTorch cannot read, a file of another kind and an unsupported version."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def read_checkpoint(path: str | os.PathLike, fmt: str, version: int, kind: str, device: str = "cpu",
                    hint: str = "") -> dict:
    """The checkpoint dict at ``path`` if its ``format`` is ``fmt`` and its ``version`` is ``version``;
    ``kind`` names it in messages ("lifter", "hourglass"), ``hint`` says how to make a right one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {kind} checkpoint")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable {kind} checkpoint; PyTorch cannot load it ({exc})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != fmt:
        raise ValueError(f"{path}: not an occlupose {kind} checkpoint" + (f" ({hint})" if hint else ""))
    if ckpt.get("version") != version:
        raise ValueError(f"{path}: {kind} checkpoint version {ckpt.get('version')} is not supported "
                         f"(this occlupose reads version {version})")
    return ckpt
