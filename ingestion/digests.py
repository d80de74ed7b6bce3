"""sha256 digests of what is imported (a file, a folder's files), also computed in a background
thread while the import reads the file."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Self

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class BackgroundHash:
    """sha256 of a file computed in a thread (hashlib and file reads release the GIL), so an
    import can read the file while its digest is being computed. Leaving a ``with`` block
    stops it (an import that failed no longer needs the digest)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stop = threading.Event()
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        digest = hashlib.sha256()
        try:
            with self.path.open("rb") as fh:
                while not self._stop.is_set() and (chunk := fh.read(_CHUNK)):
                    digest.update(chunk)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc
            return
        if not self._stop.is_set():
            self._digest = digest.hexdigest()

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._digest is not None, "result() after cancel()"
        return self._digest

    def cancel(self) -> None:
        """Stop reading."""
        self._stop.set()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


def files_sha256(files: Iterable[Path]) -> str:
    """One digest for a set of files (a UCI folder): the names and contents, order-independent."""
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        digest.update(f"{path.name}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()
