"""Optional dependencies (the video front end's ``occlupose[video]``, ONNX export's ``occlupose[onnx]``),
imported on first use so that training and lifting work without them, and a missing one is one clear line,
not a traceback."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, purpose: str, extra: str = "video") -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ValueError(f"{purpose} needs {module.split('.')[0]}: pip install 'occlupose[{extra}]'") from exc
