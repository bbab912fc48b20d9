"""Per-cell claims, so that several runs on one run directory share its cells.

A claim is an exclusive ``flock`` on ``<run>/claims/<key>.lock`` (the file names the owner's
pid and host, for people). The kernel drops the lock when its owner exits, however it exits,
so a dead run's claims are free at once and the next run takes them over; there are no
timeouts to tune. ``flock`` works over NFS on Linux (as a byte-range lock).

Example:
    >>> import tempfile
    >>> claims = Claims(tempfile.mkdtemp())
    >>> mine = claims.take("cell-a")
    >>> claims.take("cell-a") is None  # held, even within one process
    True
    >>> mine.release()
    >>> claims.take("cell-a") is not None
    True
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; every claim succeeds (runs do not share cells)
    fcntl = None  # type: ignore[assignment]


class Claim:
    """A held claim; :meth:`release` it once the cell's result is stored."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        if self._fd < 0:
            return
        # Unlink before unlocking: a run that opened the old file then sees a stale inode.
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = -1


class Claims:
    """The claims of one run directory (``<run>/claims/``)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir) / "claims"

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.lock"

    def take(self, key: str) -> Claim | None:
        """Claim ``key``, or return None while another live process holds it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.path(key)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            if fcntl is None:
                return Claim(path, fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(fd).st_ino:
                break
            os.close(fd)  # the owner released (and unlinked) it between our open and lock
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        return Claim(path, fd)

    def owner(self, key: str) -> str:
        """``"pid host"`` of the claim's last holder, or ``""`` if there is none."""
        try:
            return self.path(key).read_text().strip()
        except FileNotFoundError:
            return ""
