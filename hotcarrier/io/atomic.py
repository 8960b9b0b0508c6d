"""Atomic output: one file (temporary file beside it, then ``os.replace``) or a set of files
(:func:`output_set`: a staging folder, moved in under a lock, ``manifest.json`` written last).

A reader of the target never sees a half-written file, a failed write leaves the old file
(if any) untouched, and readers of an output folder (:func:`check_output_set`) refuse a set
that a killed run left incomplete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_path", "atomic_open", "output_set", "check_output_set",
           "check_output_folder", "MANIFEST"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp_path = Path(tmp)
    try:  # mkstemp creates 0600; give the file the mode an ordinary open() would
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask()
        os.chmod(tmp_path, mode)
    except OSError:
        pass
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path) -> Iterator[BinaryIO]:
    """Open a binary file handle whose content replaces ``path`` atomically on success."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        yield fh


# ------------------------------------------------------------------------- output sets

MANIFEST = "manifest.json"
"""Written last in an output folder: the files of the set, their sizes and SHA-256 sums."""

MANIFEST_SCHEMA = "hotcarrier.outputs/1"
_STAGING = ".hotcarrier-staging"


def check_output_folder(folder, option: str = "--out", *, create: bool = True) -> Path:
    """``folder`` as a folder hotcarrier can write into, checked before any work: not a
    file, not under a file, writable. Raises OptionError. ``create``: made if missing;
    otherwise its nearest existing parent is checked instead, so that an input error found
    later leaves no empty folder behind (:func:`output_set` creates it when it writes)."""
    from ..errors import OptionError

    if folder is None or not str(folder).strip():
        raise OptionError(f"{option}: empty output folder; give a folder name")
    p = Path(folder)
    existing = p
    for q in (p, *p.parents):
        if q.exists() and not q.is_dir():
            raise OptionError(f"{option} {p}: {q} is a file, not a folder; choose another "
                              "output folder")
        if q.exists():
            existing = q
            break
    try:
        if create:
            p.mkdir(parents=True, exist_ok=True)
            existing = p
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OptionError(f"{option} {p}: cannot write there ({exc.strerror or exc}); choose a "
                          "writable folder") from None
    return p


@contextlib.contextmanager
def output_set(folder, *, replaces: tuple = (), command: str = "") -> Iterator[Path]:
    """Write a set of files into ``folder`` as one.

    Yields a private staging folder inside ``folder``; write every file of the set there. On
    success, under an exclusive lock on the folder, the manifest is first marked incomplete,
    the files are moved in (each ``os.replace``), files of the previous set (its manifest and
    the names or glob patterns in ``replaces``) that the new set lacks are removed, and the
    manifest listing the new files with their sizes and SHA-256 sums is written last. A run
    killed before that leaves the previous set untouched; one killed while moving leaves a
    manifest marked incomplete, which readers (:func:`check_output_set`) refuse. Two runs
    into one folder end with the complete set of the one that committed last.
    """
    target = check_output_folder(folder)
    _clean_stale_staging(target)
    stage = Path(tempfile.mkdtemp(prefix=f"{_STAGING}.{os.getpid()}.", dir=target))
    try:
        yield stage
        _commit(stage, target, replaces, command)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_manifest(target: Path, doc: dict) -> None:
    with atomic_open(target / MANIFEST) as fh:
        fh.write((json.dumps(doc, indent=1) + "\n").encode())


def _read_manifest(target: Path) -> dict | None:
    try:
        doc = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"complete": False}
    return doc if isinstance(doc, dict) else {"complete": False}


@contextlib.contextmanager
def _locked(target: Path):
    try:
        import fcntl
    except ImportError:  # pragma: no cover (not POSIX): no lock
        yield
        return
    fd = os.open(target / ".hotcarrier.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _commit(stage: Path, target: Path, replaces, command: str) -> None:
    files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
    listing = {}
    for rel in files:
        path = stage / rel
        with open(path, "rb+") as fh:
            os.fsync(fh.fileno())
        listing[rel] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
    with _locked(target):
        old = _read_manifest(target) or {}
        _write_manifest(target, {"schema": MANIFEST_SCHEMA, "complete": False,
                                 "command": command, "files": {}})
        for rel in files:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / rel, target / rel)
        same = old.get("command") == command and isinstance(old.get("files"), dict)
        stale = set(old["files"]) if same else set()
        for pattern in replaces:
            stale |= {p.relative_to(target).as_posix() for p in target.glob(pattern)
                      if p.is_file()}
        for rel in stale - set(files):
            with contextlib.suppress(OSError):
                (target / rel).unlink()
        _write_manifest(target, {"schema": MANIFEST_SCHEMA, "complete": True,
                                 "command": command, "files": listing})
        with contextlib.suppress(OSError):  # the renames reach the disk
            dfd = os.open(target, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


def _clean_stale_staging(target: Path) -> None:
    """Remove staging folders of runs that no longer exist (killed while writing)."""
    for p in target.glob(f"{_STAGING}.*"):
        try:
            pid = int(p.name.split(".")[2])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (ValueError, IndexError, OSError):
            continue


def check_output_set(folder, *, verify: bool = True) -> dict | None:
    """The manifest of an output folder, or None when it has none (a folder written by hand
    or by an older hotcarrier); raises FitResultError when the set is incomplete (a run was
    interrupted while writing) or its files no longer match the manifest (size, SHA-256)."""
    from ..errors import FitResultError

    target = Path(folder)
    doc = _read_manifest(target)
    if doc is None:
        return None
    if not doc.get("complete"):
        raise FitResultError(f"{target}: incomplete output set (a run was interrupted while "
                             f"writing it; {MANIFEST} is marked incomplete)\n  fix: run the "
                             "command again into this folder")
    files = doc.get("files") if isinstance(doc.get("files"), dict) else {}
    for rel, info in files.items():
        p = target / rel
        ok = p.is_file() and p.stat().st_size == info.get("bytes")
        if ok and verify:
            ok = _sha256(p) == info.get("sha256")
        if not ok:
            raise FitResultError(f"{target}: {rel} does not match {MANIFEST} (changed, "
                                 "truncated or replaced after the set was written)\n  fix: run "
                                 "the command again into this folder")
    return doc
