"""Screenshots of the cycle report and the history report, taken in Chromium with the network off.

    uv run python bench/screenshots.py --home .mlops-demo            # a demo run already made
    uv run python bench/screenshots.py --home /tmp/shots --run-demo  # make one first (minutes)

Writes ``docs/img/cycle-report.png`` (the report of the latest cycle that
promoted a challenger, else the latest cycle) and ``docs/img/history-report.png``.

The browser runs headless inside a new network namespace (``unshare --net``;
without root, inside a new user namespace too), where only a loopback
interface exists and it is down: nothing it tries to fetch can leave the
machine, which is how a report is checked to open offline. The page is driven
over the DevTools protocol on a pipe (``--remote-debugging-pipe``), which
needs no network either; every request the page makes is recorded, so a test
can assert there were none. ``tests/flows/test_cycle_report.py`` uses the same
functions.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "chromium"


class OfflineBrowserError(RuntimeError):
    """The browser cannot be run with its network cut off, or it failed."""


def offline_prefix() -> list[str]:
    """The command prefix that runs a program with no network, checked to work.

    Root gets a new network namespace; anyone else a new user namespace mapped
    to root with a new network namespace inside it.

    Returns:
        E.g. ``["unshare", "--net"]``.

    Raises:
        OfflineBrowserError: ``unshare`` is missing, namespaces are not allowed,
            or the namespace still has an interface other than a downed loopback.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        raise OfflineBrowserError("`unshare` (util-linux) is not installed: cannot cut the network")
    prefix = (
        [unshare, "--net"] if os.geteuid() == 0 else [unshare, "--user", "--map-root-user", "--net"]
    )
    try:
        probe = subprocess.run(
            [*prefix, "cat", "/proc/net/dev"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OfflineBrowserError(f"cannot start a process without network: {exc}") from exc
    if probe.returncode != 0:
        raise OfflineBrowserError(
            f"cannot create a network namespace with {' '.join(prefix)!r}: "
            f"{probe.stderr.strip() or probe.returncode} (user namespaces may be disabled: "
            "sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces)"
        )
    interfaces = [line.split(":")[0].strip() for line in probe.stdout.splitlines()[2:]]
    if interfaces != ["lo"]:
        raise OfflineBrowserError(f"the network namespace still has interfaces {interfaces}")
    return prefix


@dataclass
class PageCapture:
    """What a page did in the offline browser.

    Attributes:
        png: Full-page screenshot.
        dom: The page's DOM after it rendered (``outerHTML``).
        requests: URL of every request the page made (file: and data: included).
        console: Console and log messages (CSP violations land here).
        values: Results of the ``evaluate`` expressions, by name.
    """

    png: bytes
    dom: str
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def external_requests(self) -> list[str]:
        """Requests to anything but the file itself, inline data or blank frames."""
        local = ("file:", "data:", "about:", "blob:")
        return [u for u in self.requests if not u.startswith(local)]


class _DevTools:
    """The DevTools protocol over the pipe Chromium opens on its fds 3 (in) and 4 (out)."""

    def __init__(self, process: subprocess.Popen, to_browser: int, from_browser: int) -> None:
        self.process = process
        self._out = os.fdopen(to_browser, "wb", buffering=0)
        self._in = os.fdopen(from_browser, "rb", buffering=0)
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self._in.read(1 << 16)
            except (OSError, ValueError):
                break  # the pipe was closed
            if not chunk:
                break
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._cond:
                        self._replies[message["id"]] = message
                        self._cond.notify_all()
                else:
                    self.events.put(message)
        with self._cond:
            self._cond.notify_all()

    def call(
        self, method: str, params: dict | None = None, session: str | None = None, timeout=60.0
    ):
        self._next_id += 1
        ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._out.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise OfflineBrowserError(f"no answer to {method} from the browser")
                self._cond.wait(left)
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise OfflineBrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def close(self, timeout: float = 15.0) -> None:
        """Close the pipe, wait for the browser to exit (killed after ``timeout``)."""
        try:
            self._out.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        self._in.close()


def _high_fd(fd: int) -> int:
    # The child must see the pipe on fds 3 and 4; numbers of 100 and up cannot
    # collide with those while the shell moves them there.
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 100)
    os.close(fd)
    return high


def capture_offline(
    html_file: Path,
    *,
    width: int = 1280,
    ready: str = "document.readyState === 'complete'",
    evaluate: dict[str, str] | None = None,
    timeout: float = 90.0,
    max_height: int = 20000,
) -> PageCapture:
    """Open a local HTML file in headless Chromium with no network and capture it.

    Args:
        html_file: The page.
        width: Viewport width in CSS pixels; the screenshot takes the full height.
        ready: JavaScript expression that is true once the page has rendered.
        evaluate: Named JavaScript expressions to evaluate afterwards (JSON results).
        timeout: Seconds to wait for ``ready``.
        max_height: Tallest screenshot taken, in CSS pixels.

    Returns:
        The screenshot, the DOM, the requests and console messages.

    Raises:
        OfflineBrowserError: The network cannot be cut, Chromium is missing or fails,
            or the page does not become ready in time.
    """
    browser = shutil.which(CHROMIUM)
    if browser is None:
        raise OfflineBrowserError(f"`{CHROMIUM}` is not installed")
    prefix = offline_prefix()
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    to_r, from_w = _high_fd(to_r), _high_fd(from_w)
    profile = tempfile.mkdtemp(prefix="mlops-chromium-")
    args = [
        browser,
        "--headless",
        "--remote-debugging-pipe",
        # Inside the namespace the browser runs as (mapped) root, which Chromium's
        # own sandbox refuses; the page is our own local file.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--hide-scrollbars",
        "--mute-audio",
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    # bash (not sh: dash only redirects fds 0-9) moves the pipe ends to 3 and 4.
    bash = shutil.which("bash")
    if bash is None:
        raise OfflineBrowserError("`bash` is not installed")
    script = f'exec 3<&{to_r} 4>&{from_w} {to_r}<&- {from_w}>&-; exec "$@"'
    process = subprocess.Popen(
        [*prefix, bash, "-c", script, "bash", *args],
        pass_fds=(to_r, from_w),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(to_r)
    os.close(from_w)
    tools = _DevTools(process, to_w, from_r)
    try:
        return _drive(tools, html_file, width, ready, evaluate or {}, timeout, max_height)
    finally:
        try:
            tools.call("Browser.close", timeout=10)
        except (OfflineBrowserError, OSError):
            pass  # already gone
        tools.close()
        shutil.rmtree(profile, ignore_errors=True)


def _drive(
    tools: _DevTools,
    html_file: Path,
    width: int,
    ready: str,
    evaluate: dict[str, str],
    timeout: float,
    max_height: int,
) -> PageCapture:
    target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    for domain in ("Page", "Network", "Runtime", "Log"):
        tools.call(f"{domain}.enable", session=session)
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}
    tools.call("Emulation.setDeviceMetricsOverride", metrics, session=session)
    tools.call("Page.navigate", {"url": html_file.resolve().as_uri()}, session=session)

    def evaluate_js(expression: str) -> Any:
        result = tools.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=session,
        )
        if "exceptionDetails" in result:
            raise OfflineBrowserError(f"{expression!r} failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    deadline = time.monotonic() + timeout
    while not evaluate_js(f"Boolean({ready})"):
        if time.monotonic() > deadline:
            raise OfflineBrowserError(f"the page did not become ready ({ready}) in {timeout} s")
        time.sleep(0.25)
    values = {name: evaluate_js(expression) for name, expression in evaluate.items()}
    height = int(evaluate_js("document.documentElement.scrollHeight") or 900)
    metrics["height"] = min(max(height, 300), max_height)
    tools.call("Emulation.setDeviceMetricsOverride", metrics, session=session)
    time.sleep(0.3)  # one frame to lay out at the new height
    shot = tools.call("Page.captureScreenshot", {"format": "png"}, session=session)
    dom = evaluate_js("document.documentElement.outerHTML")

    requests: list[str] = []
    console: list[str] = []
    while True:
        try:
            event = tools.events.get_nowait()
        except queue.Empty:
            break
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled":
            console.append(
                " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Log.entryAdded":
            console.append(f"{params['entry']['level']}: {params['entry']['text']}")
        elif method == "Runtime.exceptionThrown":
            console.append(f"exception: {params['exceptionDetails'].get('text')}")
    return PageCapture(
        png=base64.b64decode(shot["data"]),
        dom=dom,
        requests=requests,
        console=console,
        values=values,
    )


#: True once the embedded Evidently report has been unpacked and drawn.
EVIDENTLY_DRAWN = (
    "document.readyState === 'complete' && (() => {"
    " const f = document.getElementById('evidently-report');"
    " if (!f) return true;"
    " const d = f.contentDocument;"
    " return !!d && d.querySelectorAll('svg, canvas').length > 0; })()"
)


# --------------------------------------------------------------------- script
def _latest_cycle(rt: Any) -> str:
    from tasks import decision_store
    from tasks.tags import TAG_BATCH, TAG_BATCH_NAME, TAG_KIND

    runs = decision_store.find_decision_runs(
        rt.client,
        rt.decisions_experiment_id,
        filter_tags={TAG_KIND: "retrain"},
        max_results=500,
    )
    promoted = {
        r.tags.get(TAG_BATCH)
        for r in decision_store.find_decision_runs(
            rt.client,
            rt.decisions_experiment_id,
            filter_tags={TAG_KIND: "promotion"},
            max_results=500,
        )
        if r.action == "promote"
    }
    cycles = [r for r in runs if r.tags.get(TAG_BATCH_NAME) != "bootstrap"]
    chosen = [r for r in cycles if r.tags.get(TAG_BATCH) in promoted] or cycles
    if not chosen:
        raise SystemExit("no monitor cycle recorded under this data root: run the demo first")
    return chosen[0].run_id  # newest first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=Path(".mlops-demo"), help="Demo data root.")
    parser.add_argument("--run-demo", action="store_true", help="Run the demo into --home first.")
    parser.add_argument("--seed", type=int, default=7, help="Demo seed (with --run-demo).")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img", help="PNG folder.")
    parser.add_argument("--width", type=int, default=1280, help="Page width in CSS pixels.")
    parser.add_argument(
        "--max-height", type=int, default=2400, help="Screenshot height cap in CSS pixels."
    )
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from flows.cli import set_environment_defaults

    set_environment_defaults()
    from flows.demo import SHIPPED_USECASE, demo
    from flows.report_writer import history_report, write_cycle_report
    from tasks.runtime import open_runtime

    if args.run_demo:
        demo(data_root=str(args.home), seed=args.seed)
    rt = open_runtime(SHIPPED_USECASE, str(args.home))
    cycle = write_cycle_report(rt, _latest_cycle(rt))
    if cycle is None:
        raise SystemExit("the cycle report could not be written (see the warning above)")
    history = history_report(SHIPPED_USECASE, None, str(args.home))
    args.out.mkdir(parents=True, exist_ok=True)
    for page, name in ((cycle, "cycle-report.png"), (history, "history-report.png")):
        capture = capture_offline(
            page, width=args.width, ready=EVIDENTLY_DRAWN, max_height=args.max_height
        )
        if capture.external_requests:
            raise SystemExit(f"{page} asked the network for {capture.external_requests}")
        (args.out / name).write_bytes(capture.png)
        print(f"{args.out / name}: {len(capture.png):,} bytes from {page}")


if __name__ == "__main__":
    main()
