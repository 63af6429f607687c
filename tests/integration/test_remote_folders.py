"""Landing and label folders on S3: fetched into the data root, copy then delete.

Against moto's S3 server on loopback, over HTTP, through s3fs as the product
uses it. The faults are real on that server: an object deleted or rewritten by
another client between two steps of a fetch; a delete that fails is a fault
injected on the folder's own interface.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import fsspec
import pytest
from usecase_variant import small_usecase

from tasks import remote_folders
from tasks.remote_folders import (
    FsspecFolder,
    RemoteFile,
    RemoteFolderError,
    fetch_arrivals,
    fetch_remote,
    remote_source,
)
from tasks.storage import UseCasePaths

pytestmark = pytest.mark.integration

_BUCKETS = itertools.count()


@pytest.fixture
def bucket(s3_endpoint: dict[str, str]) -> str:
    """A new, empty bucket on the loopback S3 server."""
    name = f"landing-{next(_BUCKETS)}"
    fsspec.filesystem("s3").mkdir(name)
    return name


def _put(url: str, data: bytes) -> None:
    with fsspec.open(url, "wb") as out:
        out.write(data)


def _names(bucket: str, prefix: str) -> list[str]:
    fs = fsspec.filesystem("s3")
    fs.invalidate_cache()
    try:
        return sorted(Path(p).name for p in fs.ls(f"{bucket}/{prefix}", detail=False))
    except FileNotFoundError:
        return []


def test_files_move_byte_for_byte_and_leave_the_store(bucket: str, tmp_path: Path) -> None:
    batches = {f"period_{p:03d}.csv": f"id,x\n{p},{p / 3}\n".encode() * (p + 1) for p in range(3)}
    for name, data in batches.items():
        _put(f"s3://{bucket}/in/{name}", data)
    # Neither the upload tool's temporary object, nor Spark's marker, nor another format.
    # Nor a name the local listing would not find (it compares suffixes exactly).
    others = (".period_009.csv.part", "_SUCCESS", "notes.txt", "period_010.parquet", "P_011.CSV")
    for other in others:
        _put(f"s3://{bucket}/in/{other}", b"not a batch")

    fetched = fetch_arrivals(FsspecFolder(f"s3://{bucket}/in"), tmp_path / "landing", (".csv",))

    assert [f.name for f in fetched] == sorted(batches)
    for f in fetched:
        assert f.new and f.local == tmp_path / "landing" / f.name
        assert f.local.read_bytes() == batches[f.name]
        assert f.sha256 == hashlib.sha256(batches[f.name]).hexdigest()
        assert f.size == len(batches[f.name])
    assert sorted(p.name for p in (tmp_path / "landing").iterdir()) == sorted(batches)
    assert _names(bucket, "in") == sorted(others)
    assert fetch_arrivals(FsspecFolder(f"s3://{bucket}/in"), tmp_path / "landing", (".csv",)) == []


def test_a_large_object_is_hashed_while_it_streams(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote_folders, "STREAM_BLOCK_BYTES", 1 << 16)
    data = hashlib.sha256(b"seed").digest() * 40_000  # 1.28 MB: about 20 reads
    _put(f"s3://{bucket}/big/batch.parquet", data)

    (fetched,) = fetch_arrivals(FsspecFolder(f"s3://{bucket}/big"), tmp_path, (".parquet",))

    assert fetched.sha256 == hashlib.sha256(data).hexdigest()
    assert fetched.local.read_bytes() == data


class _DeleteFailsOnce(FsspecFolder):
    """The store refuses the first delete: a fetch stops between its copy and its delete."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.refused = 0

    def remove(self, name: str) -> None:
        if not self.refused:
            self.refused += 1
            raise OSError("connection reset while deleting")
        super().remove(name)


def test_a_fetch_stopped_between_copy_and_delete_is_finished_once(
    bucket: str, tmp_path: Path
) -> None:
    data = b"id,x\n1,2.5\n"
    _put(f"s3://{bucket}/in/period_001.csv", data)
    landing = tmp_path / "landing"

    with pytest.raises(OSError, match="connection reset"):
        fetch_arrivals(_DeleteFailsOnce(f"s3://{bucket}/in"), landing, (".csv",))

    # Stopped after the copy: the whole file is local, the object still there.
    assert [p.name for p in landing.iterdir()] == ["period_001.csv"]
    assert (landing / "period_001.csv").read_bytes() == data
    assert _names(bucket, "in") == ["period_001.csv"]

    (again,) = fetch_arrivals(FsspecFolder(f"s3://{bucket}/in"), landing, (".csv",))

    assert not again.new and again.local == landing / "period_001.csv"
    assert [p.name for p in landing.iterdir()] == ["period_001.csv"], "no second copy"
    assert _names(bucket, "in") == []


def test_another_file_under_a_waiting_name_is_kept_beside_it(bucket: str, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "period_001.csv").write_bytes(b"id,x\n1,1.0\n")
    corrected = b"id,x\n1,1.5\n"
    _put(f"s3://{bucket}/in/period_001.csv", corrected)

    (fetched,) = fetch_arrivals(FsspecFolder(f"s3://{bucket}/in"), landing, (".csv",))

    sha = hashlib.sha256(corrected).hexdigest()
    assert fetched.local == landing / f"period_001.{sha[:12]}.csv"
    assert fetched.local.read_bytes() == corrected
    assert (landing / "period_001.csv").read_bytes() == b"id,x\n1,1.0\n"


class _RewrittenAfterListing(FsspecFolder):
    """Another client rewrites the object, shorter, between the listing and the read."""

    def files(self) -> list[RemoteFile]:
        listed = super().files()
        _put(f"{self.location}/period_001.csv", b"id,x\n1,")
        return listed


def test_an_object_shorter_than_listed_is_not_fetched(bucket: str, tmp_path: Path) -> None:
    _put(f"s3://{bucket}/in/period_001.csv", b"id,x\n1,2.5\n2,3.5\n")
    landing = tmp_path / "landing"

    with pytest.raises(OSError, match="read 7 bytes of 17 listed"):
        fetch_arrivals(_RewrittenAfterListing(f"s3://{bucket}/in"), landing, (".csv",))

    assert list(landing.iterdir()) == [], "nothing partial left locally"
    assert _names(bucket, "in") == ["period_001.csv"], "the object stays for the next fetch"


def test_a_use_case_with_s3_folders_fetches_into_its_own_folders(
    bucket: str, tmp_path: Path
) -> None:
    usecase = small_usecase(
        "shop",
        [{"name": "x", "type": "numeric"}],
        data={
            "landing": f"s3://{bucket}/shop/landing/",
            "labels": f"s3://{bucket}/shop/labels",
            "id_column": "id",
            "time_column": "week",
            "target_column": "y",
        },
    )
    paths = UseCasePaths.for_usecase(usecase, tmp_path)
    assert paths.landing == tmp_path / "shop" / "landing"
    assert paths.labels == tmp_path / "shop" / "labels"
    assert paths.landing_source == f"s3://{bucket}/shop/landing/"
    _put(f"s3://{bucket}/shop/landing/week_001.csv", b"id,week,x\n1,1,0.5\n")
    _put(f"s3://{bucket}/shop/labels/labels_001.csv", b"id,y\n1,2.0\n")

    landed = fetch_remote(paths, "csv", "landing")
    labels = fetch_remote(paths, "csv", "labels")

    assert [f.local for f in landed] == [paths.landing / "week_001.csv"]
    assert [f.local for f in labels] == [paths.labels / "labels_001.csv"]
    assert _names(bucket, "shop/landing") == _names(bucket, "shop/labels") == []


def test_a_missing_prefix_has_no_files(bucket: str, tmp_path: Path) -> None:
    assert fetch_arrivals(FsspecFolder(f"s3://{bucket}/nothing/here"), tmp_path, (".csv",)) == []


def test_a_local_folder_is_never_fetched(tmp_path: Path) -> None:
    paths = UseCasePaths.for_usecase(
        small_usecase("shop", [{"name": "x", "type": "numeric"}]), tmp_path
    )
    assert remote_source(paths, "landing") is None and remote_source(paths, "labels") is None
    assert fetch_remote(paths, "csv", "landing") == []
    with pytest.raises(ValueError, match="neither landing nor labels"):
        fetch_remote(paths, "csv", "archive")


def test_an_unreachable_store_is_one_error_naming_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_endpoint: dict[str, str]
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # A client of its own (fsspec reuses one per set of options), which tries once.
    folder = FsspecFolder(
        "s3://nowhere/landing",
        endpoint_url=f"http://127.0.0.1:{port}",
        config_kwargs={"retries": {"max_attempts": 1}},
        skip_instance_cache=True,
    )

    with pytest.raises(RemoteFolderError, match="s3://nowhere/landing: Could not connect"):
        fetch_arrivals(folder, tmp_path, (".csv",))

    assert list(tmp_path.iterdir()) == []
