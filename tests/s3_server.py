"""An S3-compatible server on loopback for the object-store tests: moto's, over HTTP.

The product talks to it as to any S3 endpoint (s3fs, reading ``AWS_ENDPOINT_URL``
and the credentials from the environment); nothing in the client is patched.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The environment the product's S3 client reads; the credentials are moto's test ones.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def s3_server(log: Path) -> Iterator[dict[str, str]]:
    """Start moto's S3 server on a free loopback port; yield the environment that reaches it.

    Args:
        log: File for the server's output.

    Yields:
        ``AWS_ENDPOINT_URL`` and the credentials, to put in a process's environment.
    """
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"moto's S3 server did not start: {log.read_text(errors='replace')}"
                    ) from None
                time.sleep(0.1)
        yield {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def s3_environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` set in this process's environment for the block (as a worker's would be)."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
