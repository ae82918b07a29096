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


#: the packages whose versions can move the video front end's numbers (the BlazePose runtimes, decoding, OpenCV)
FRONT_END_PACKAGES = ("mediapipe", "ai-edge-litert", "opencv-contrib-python", "av", "numpy", "torch")


def cpu_model() -> str:
    """The processor's model name and widest vector extension (Linux), or what ``platform`` knows: the BlazePose
    networks' CPU kernels differ between processors (AVX-512 or not), and real-video numbers moved with the
    machine (docs/results.md)."""
    import platform

    name, flags = "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not name:
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    isa = next((f for f in ("avx512f", "avx2", "avx", "neon", "asimd") if f in flags), "")
    return f"{name} ({isa.upper()})" if isa else name


def environment() -> str:
    """One line for a benchmark's output: the CPU and the versions of :data:`FRONT_END_PACKAGES`."""
    from importlib import metadata

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"

    return f"{cpu_model()}; " + ", ".join(f"{p} {version(p)}" for p in FRONT_END_PACKAGES)
