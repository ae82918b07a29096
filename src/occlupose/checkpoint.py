"""Reading the package's tagged checkpoints (lifter, hourglass, training state): one set of checks, one set of
clear errors for a missing file, a file PyTorch cannot read, a file of another kind and an unsupported version.

Checkpoints are loaded with ``weights_only=True``: PyTorch then unpickles tensors and plain data only, so a
checkpoint file from a stranger cannot run code. Every checkpoint this package writes loads that way.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch


def load_weights_only(path: Path, kind: str, device: str = "cpu"):
    """``torch.load`` that refuses anything but tensors and plain data (no code can run)."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path}: refused: not a plain {kind} checkpoint; it holds Python objects that could run "
                         "code when loaded (occlupose loads tensors and plain data only)") from exc
    except Exception as exc:
        raise ValueError(f"{path}: not a readable {kind} checkpoint; PyTorch cannot load it ({exc})") from exc


def read_checkpoint(path: str | os.PathLike, fmt: str, version: int, kind: str, device: str = "cpu",
                    hint: str = "") -> dict:
    """The checkpoint dict at ``path`` if its ``format`` is ``fmt`` and its ``version`` is ``version``;
    ``kind`` names it in messages ("lifter", "hourglass"), ``hint`` says how to make a right one."""
    check_device(device)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {kind} checkpoint")
    ckpt = load_weights_only(path, kind, device)
    if not isinstance(ckpt, dict) or ckpt.get("format") != fmt:
        raise ValueError(f"{path}: not an occlupose {kind} checkpoint" + (f" ({hint})" if hint else ""))
    if ckpt.get("version") != version:
        raise ValueError(f"{path}: {kind} checkpoint version {ckpt.get('version')} is not supported "
                         f"(this occlupose reads version {version})")
    return ckpt


def check_device(name: str | None) -> str:
    """``name`` if PyTorch can use that device here; a clear error for a misspelt or absent one."""
    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"unknown device {name!r}; expected cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: no CUDA GPU is available to PyTorch on this machine; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {name!r}: Apple's MPS is not available on this machine; use --device cpu")
    elif dev.type != "cpu":
        raise ValueError(f"device {name!r} is not supported; use cpu or cuda")
    return name
