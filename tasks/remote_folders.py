"""Landing and label folders on object storage: fetched into the data root, then handled.

A use case's ``data.landing`` or ``data.labels`` may be a URL that fsspec
opens (``s3://bucket/prefix``, ``gs://...``, ``az://...``, ``file:///...``)
instead of a folder. The producers of the data write there; each cycle first
moves what waits there into the use case's own folder under the data root
(``<data root>/<use case>/landing`` or ``.../labels``), and from then on the
file is an arrival like any other: validated, hashed, quarantined byte for
byte or archived, committed in the ledger.

Object stores have no rename, so the move is copy, then delete:

1. the object is streamed into a temporary file beside its target, its
   SHA-256 computed on the way, its length checked against the listing, and
   the file synced;
2. the temporary file is renamed to its target: a reader of the local folder
   sees the whole batch or none of it;
3. only then is the object deleted.

A crash between 2 and 3 leaves the object in place and its copy local: the next
fetch finds the same name with the same hash locally and only deletes the
object; if the copy was handled meanwhile, the object arrives again and the
ledger (keyed by content hash) records it as a duplicate. A different object
under a name already waiting locally is kept beside it, with its hash in its
name (:func:`tasks.storage.place_for`, as archive and quarantine moves do).
Names that start with ``.`` or ``_`` (upload tools' temporary objects, Spark's
``_SUCCESS``) and objects of another format are left alone.

Credentials and endpoints come from the object store's own environment (for
S3: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` for
an S3-compatible server), never from the use-case file. S3 takes the ``s3``
extra (s3fs); other stores take their fsspec package.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Protocol

from mlops_core.config import is_url
from tasks.storage import UseCasePaths, file_sha256, file_suffix, place_for

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

#: Bytes read from the object store per call while streaming a file.
STREAM_BLOCK_BYTES = 8 << 20


class RemoteFolderError(OSError):
    """The object store could not be listed, read or written (its client's error, in one type)."""


@dataclass(frozen=True)
class RemoteFile:
    """One object waiting in a remote folder."""

    name: str
    size: int | None


@dataclass(frozen=True)
class FetchedFile:
    """One object moved into the local folder: where it is now, and its identity."""

    name: str
    local: Path
    sha256: str
    size: int
    new: bool  # False: the same bytes were already waiting locally (an interrupted fetch)


class RemoteFolder(Protocol):
    """A folder whose files are fetched: listing, reading and deleting one file by name."""

    @property
    def location(self) -> str:
        """The folder, as the use case names it (for messages)."""
        ...

    def files(self) -> list[RemoteFile]:
        """The files directly in the folder, sorted by name (a missing folder has none)."""
        ...

    def open(self, name: str) -> IO[bytes]:
        """A file of the folder, opened for reading bytes."""
        ...

    def remove(self, name: str) -> None:
        """Delete a file of the folder (a file already gone is not an error)."""
        ...


class FsspecFolder:
    """A :class:`RemoteFolder` on any file system fsspec opens from a URL."""

    def __init__(self, url: str, **storage_options: object) -> None:
        """Open the folder ``url``; ``storage_options`` go to the file system (fsspec's)."""
        from fsspec.core import url_to_fs

        self._url = url.rstrip("/")
        self._fs: AbstractFileSystem
        self._fs, self._path = url_to_fs(self._url, **storage_options)
        self._path = self._path.rstrip("/")

    @property
    def location(self) -> str:
        """The folder's URL."""
        return self._url

    def files(self) -> list[RemoteFile]:
        """The files directly in the folder, read afresh (never fsspec's listing cache)."""
        self._fs.invalidate_cache(self._path)
        try:
            entries = self._fs.ls(self._path, detail=True)
        except FileNotFoundError:
            return []
        found = [
            RemoteFile(name=PurePosixPath(e["name"]).name, size=e.get("size"))
            for e in entries
            if e.get("type") == "file"
        ]
        return sorted(found, key=lambda f: f.name)

    def open(self, name: str) -> IO[bytes]:
        """The file ``name``, opened for streaming."""
        return self._fs.open(self._child(name), "rb", block_size=STREAM_BLOCK_BYTES)

    def remove(self, name: str) -> None:
        """Delete the file ``name``; a file already gone is not an error."""
        try:
            self._fs.rm_file(self._child(name))
        except FileNotFoundError:
            pass

    def _child(self, name: str) -> str:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"file name {name!r} is not directly in {self._url}")
        return f"{self._path}/{name}"


def open_remote_folder(location: str) -> RemoteFolder:
    """The remote folder a use case names by URL (``data.landing`` or ``data.labels``).

    Raises:
        ValueError: ``location`` is not a URL.
        ImportError: The store's fsspec package is not installed (for S3, the
            ``s3`` extra); the message names the package.
    """
    if not is_url(location):
        raise ValueError(f"{location!r} is a local folder, not a URL")
    return FsspecFolder(location)


def fetch_remote(paths: UseCasePaths, fmt: str, kind: str) -> list[FetchedFile]:
    """Fetch a use case's remote landing or labels folder into its local one.

    Args:
        paths: The use case's folders.
        fmt: ``data.format``: only files of that format are fetched.
        kind: ``"landing"`` or ``"labels"``.

    Returns:
        What was fetched; empty when that folder of the use case is local.
    """
    source = remote_source(paths, kind)
    if source is None:
        return []
    folder = paths.landing if kind == "landing" else paths.labels
    return fetch_arrivals(open_remote_folder(source), folder, (file_suffix(fmt),))


def remote_source(paths: UseCasePaths, kind: str) -> str | None:
    """The URL a use case's landing or labels folder is fetched from; None when it is local.

    Raises:
        ValueError: ``kind`` is neither ``"landing"`` nor ``"labels"``.
    """
    if kind == "landing":
        return paths.landing_source
    if kind == "labels":
        return paths.labels_source
    raise ValueError(f"kind {kind!r} is neither landing nor labels")


def fetch_arrivals(
    source: RemoteFolder, folder: Path, suffixes: tuple[str, ...]
) -> list[FetchedFile]:
    """Move every file of ``source`` with one of ``suffixes`` into ``folder``, oldest name first.

    Each file is copied whole and synced, renamed into place, and only then
    deleted from ``source`` (see the module docstring for a crash at any step).

    Args:
        source: The remote folder.
        folder: The local folder it is fetched into (created if missing).
        suffixes: The file suffixes fetched, with their dot (``(".csv",)``), compared
            exactly as the local listing (``storage.list_files``) compares them: a
            file fetched is a file a cycle then finds.

    Returns:
        What was fetched, in name order.

    Raises:
        OSError: A read from the store failed or returned fewer bytes than listed
            (:class:`RemoteFolderError` for the store client's own errors: an
            unreachable endpoint, refused credentials); the object stays where
            it was, and nothing partial is left locally.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fetched: list[FetchedFile] = []
    try:
        for remote in source.files():
            if remote.name.startswith((".", "_")):
                continue
            if PurePosixPath(remote.name).suffix not in suffixes:
                continue
            fetched.append(_fetch_one(source, remote, folder))
            source.remove(remote.name)
    except OSError:
        raise
    except Exception as exc:  # botocore's, gcsfs's...: not OSErrors, and each its own
        raise RemoteFolderError(f"{source.location}: {exc}") from exc
    return fetched


def _fetch_one(source: RemoteFolder, remote: RemoteFile, folder: Path) -> FetchedFile:
    """Copy one file into ``folder`` (never over another file's bytes) and return where."""
    with _downloaded(source, remote, folder) as (tmp, sha256, size):
        target = place_for(folder, remote.name, sha256)
        # Under its own name it holds these bytes (place_for checked); under the
        # hashed name, an earlier fetch of them put it there.
        if target.exists() and (target.name == remote.name or file_sha256(target) == sha256):
            return FetchedFile(remote.name, target, sha256, size, new=False)
        os.replace(tmp, target)
        return FetchedFile(remote.name, target, sha256, size, new=True)


@contextmanager
def _downloaded(
    source: RemoteFolder, remote: RemoteFile, folder: Path
) -> Iterator[tuple[Path, str, int]]:
    """A synced temporary copy of a remote file in ``folder``, its hash and length.

    The copy is removed when the block ends, unless the block renamed it into place.
    """
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{remote.name}.fetch.")
    tmp = Path(name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, source.open(remote.name) as src:
            while block := src.read(STREAM_BLOCK_BYTES):
                digest.update(block)
                out.write(block)
                size += len(block)
            out.flush()
            os.fsync(out.fileno())
        if remote.size is not None and size != remote.size:
            raise OSError(
                f"{source.location}/{remote.name}: read {size:,} bytes of "
                f"{remote.size:,} listed; it stays there for the next fetch"
            )
        yield tmp, digest.hexdigest(), size
    finally:
        tmp.unlink(missing_ok=True)  # already gone when the block renamed it into place
