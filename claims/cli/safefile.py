"""Files the CLI writes for a person: the token store and `-o FILE`, never through a link or into a pipe.

Issue 21, point 10: a symlink at the token file's temporary name made `claims login` overwrite
its target; `-o` followed symlinks and hung on a FIFO. Here a target that exists must be a
regular file (checked with lstat, and again with fstat on what was opened, O_NOFOLLOW and
O_NONBLOCK, so a swap between the two cannot redirect or block the write); private files are
written to a fresh O_EXCL temporary name in their 0700 folder and renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
}


class UnsafeFile(Exception):
    """The path is not a regular file (or its folder is not the owner's alone); the message is one line."""


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def check_regular(path: Path, field: str) -> bool:
    """True when `path` is a regular file, False when it does not exist; UnsafeFile for anything else."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFile(f"{field}: {str(path)!r} is {_kind(info.st_mode)}, not a regular file; refusing to use it")
    return True


def read_regular(path: Path, field: str) -> bytes | None:
    """The bytes of a regular file, None if missing; never follows a link nor waits on a FIFO."""
    if not check_regular(path, field):
        return None
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise UnsafeFile(f"{field}: {str(path)!r} changed into something other than a regular file")
        return fh.read()


def private_folder(folder: Path, field: str) -> None:
    """The folder made 0700 if new; an existing one must be a real directory, and is tightened to 0700."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeFile(f"{field}: {str(folder)!r} is {_kind(info.st_mode)}, not a directory")
    if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.getuid():
        os.chmod(folder, 0o700)


def write_private(path: Path, data: bytes, field: str) -> None:
    """Atomically replace `path` (mode 0600) in its 0700 folder, through a fresh O_EXCL temporary name."""
    private_folder(path.parent, field)
    check_regular(path, field)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # O_CREAT|O_EXCL|O_NOFOLLOW
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)  # renames over a name, never through a link at it
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_output(path: Path, data: bytes, field: str = "output") -> None:
    """`-o FILE`: a new or regular file only; a symlink, FIFO or device is refused in one line."""
    check_regular(path, field)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        raise UnsafeFile(f"{field}: cannot write {str(path)!r} ({exc.strerror})") from None
    with os.fdopen(fd, "wb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise UnsafeFile(f"{field}: {str(path)!r} is not a regular file; refusing to write it")
        fh.write(data)
