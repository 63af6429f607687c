"""Deserialising skops files, once per content in a process.

A long-lived process (a served deployment, ``monitor_landed`` over many
batches, a worker) loads the same champion every cycle until the next
promotion. Rebuilding a fitted pipeline from its skops file takes a few tenths
of a second and grows with the model, while the bytes, and so the objects,
are the same. The callers still download the file and check its hash every
time; only the deserialisation of bytes already deserialised is skipped.

The objects are shared between callers, which only read them (predict,
transform, score); nothing in the product fits or changes a loaded model.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from tasks.storage import file_sha256

#: Distinct files kept deserialised: the champion's model and its estimator. A new
#: champion's evict the old ones, so a long-lived process never holds retired models.
KEPT = 2

_lock = threading.Lock()
_loaded: OrderedDict[tuple[str, tuple[str, ...]], Any] = OrderedDict()


def load_skops(path: Path, trusted: list[str], sha256: str | None = None) -> Any:
    """The objects of a skops file, deserialised at most once per content and trust list.

    Args:
        path: The skops file (already checked by the caller, when it checks).
        trusted: Type names skops may build, as stored with the file.
        sha256: The file's hash when the caller computed it (else it is computed here).

    Returns:
        The deserialised objects (shared: read them, never change them).
    """
    import skops.io

    key = (sha256 or file_sha256(path), tuple(trusted))
    with _lock:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
    objects = skops.io.load(path, trusted=trusted)
    with _lock:
        _loaded[key] = objects
        while len(_loaded) > KEPT:
            _loaded.popitem(last=False)
    return objects


def forget_loaded() -> None:
    """Drop every kept object (tests, or a process that wants the memory back)."""
    with _lock:
        _loaded.clear()
