"""Writing results without losing anything: the one owner of "exists -> refuse unless --overwrite".

A file is written under a temporary name beside its target and moved into place only when complete, with a
no-clobber link when replacing was not asked for, so a crash never leaves half a file, and of several
processes writing the same target one wins and the others are refused. A folder of results (``run``) is
built in a staging folder and moved in on success: a failed run leaves nothing, and a run with
``overwrite`` removes the earlier run's files so the folder holds only the new results. Files in the folder
that are not this tool's are never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def output_path(path: str | os.PathLike, suffix: str | None = None) -> Path:
    """The path a writer will really produce: an empty name is refused, and ``suffix`` is appended when the
    name has none (numpy adds ``.npz``, matplotlib ``.png``: the check must look at the same file)."""
    if not str(path).strip():
        raise ValueError("the output path is empty")
    p = Path(path)
    if suffix and not p.suffix:
        p = p.with_name(p.name + suffix)
    return p


def existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists():
        p = p.parent
    return p


def check_writable(path: Path, what: str = "output") -> None:
    """Fail now, before any work, if ``path`` (a file or folder, existing or not) could not be created."""
    anc = existing_ancestor(path if path.is_dir() else path.parent)
    if not anc.is_dir():
        raise NotADirectoryError(f"{path}: cannot write the {what} there ({anc} is a file, not a folder)")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: cannot write the {what} there ({anc} is not writable)")


def refuse_existing(paths, overwrite: bool) -> None:
    """Raise for the first of ``paths`` that exists, unless ``overwrite``."""
    if overwrite:
        return
    for p in paths:
        if os.path.lexists(p):
            raise FileExistsError(f"{p} exists; pass --overwrite to replace it")


def check_new_file(path: str | os.PathLike, overwrite: bool, suffix: str | None = None,
                   new_folder: bool = False) -> Path:
    """The checked output file path: not empty, not a folder, absent unless ``overwrite``, writable, in an
    existing folder (a typo in a folder name is an error) unless ``new_folder``."""
    p = output_path(path, suffix)
    if p.is_dir():
        raise IsADirectoryError(f"{p}: is a folder; give a file name")
    if not new_folder and not p.parent.is_dir():
        raise FileNotFoundError(f"{p.parent}: output folder does not exist")
    refuse_existing([p], overwrite)
    check_writable(p)
    return p


def publish(tmp: Path, target: Path, overwrite: bool) -> None:
    """Move the finished ``tmp`` to ``target`` atomically; without ``overwrite`` an existing target (even one
    that appeared while we worked) is never replaced."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # fails if target exists: no window between check and write
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise FileExistsError(f"{target} exists (written meanwhile?); pass --overwrite to replace it") from None
    except OSError:  # a file system without hard links: check, then rename
        if os.path.lexists(target):
            tmp.unlink(missing_ok=True)
            raise FileExistsError(f"{target} exists; pass --overwrite to replace it") from None
        os.replace(tmp, target)
        return
    tmp.unlink()


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """``with atomic_file(p) as tmp: write(tmp)``: ``tmp`` keeps ``target``'s suffix (so numpy, matplotlib and
    video writers add nothing) and becomes ``target`` only if the block succeeds."""
    target = Path(target)
    refuse_existing([target], overwrite)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".partial{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        publish(tmp, target, overwrite)
    finally:
        tmp.unlink(missing_ok=True)


class OutputFolder:
    """A folder of results written all at once. ``owned`` is a regular expression matching the names of
    files this tool writes there; only those are refused, replaced or removed.

    ``with OutputFolder(out, owned, overwrite) as staging: write files into staging``; on success the files
    move into ``out`` (created then), earlier owned files not in the new set are removed when ``overwrite``;
    on failure nothing is left behind.
    """

    def __init__(self, path: str | os.PathLike, owned: str, overwrite: bool = False):
        self.path = output_path(path)
        self.owned = re.compile(owned)
        self.overwrite = overwrite
        if self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(f"{self.path}: exists and is not a folder")
        if not overwrite:
            refuse_existing(self.previous()[:1], False)
        check_writable(self.path, "output folder")
        self.staging: Path | None = None

    def previous(self) -> list[Path]:
        """Files of an earlier run in the folder."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.iterdir() if self.owned.fullmatch(p.name))

    def __enter__(self) -> Path:
        base = existing_ancestor(self.path)
        self.staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name or 'out'}.partial-", dir=base))
        return self.staging

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._commit()
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)

    def _commit(self) -> None:
        new = sorted(p for p in self.staging.iterdir() if p.is_file())
        bad = [p.name for p in new if not self.owned.fullmatch(p.name)]
        if bad:
            raise ValueError(f"internal: {bad} are not result files of this folder")
        self.path.mkdir(parents=True, exist_ok=True)
        placed: list[Path] = []
        try:
            for p in new:
                publish(p, self.path / p.name, self.overwrite)
                placed.append(self.path / p.name)
        except FileExistsError:
            for p in placed:  # another run got there first: leave its results whole
                p.unlink(missing_ok=True)
            raise
        if self.overwrite:
            names = {p.name for p in new}
            for old in self.previous():
                if old.name not in names:
                    old.unlink()


def run_folder(path: str | os.PathLike) -> tuple[Path, bool]:
    """A training run folder, checked before anything is written (a folder or nothing yet, writable), and
    whether it already holds files."""
    p = output_path(path)
    if p.exists() and not p.is_dir():
        raise NotADirectoryError(f"{p}: exists and is not a folder; -o names the run folder")
    check_writable(p, "run folder")
    return p, p.is_dir() and any(p.iterdir())


@contextlib.contextmanager
def made_folder(path: Path, keep=lambda: False) -> Iterator[Path]:
    """Create ``path``; if the block fails and this call created the folder, remove it again unless
    ``keep()`` says what is in it is worth keeping (a resumable checkpoint)."""
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        if created and not keep():
            shutil.rmtree(path, ignore_errors=True)
        raise


def clear_owned(folder: Path, owned: str) -> None:
    """Remove the files matching ``owned`` from ``folder`` (an earlier run's, before a restart)."""
    pattern = re.compile(owned)
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_file() and pattern.fullmatch(p.name):
                p.unlink()
