"""Screenshots of the reports (network off) and of the two UIs (loopback only), in Chromium.

    uv run python bench/screenshots.py --home .mlops-demo            # a demo run already made
    uv run python bench/screenshots.py --home /tmp/shots --run-demo  # make one first (minutes)
    uv run python bench/screenshots.py --ui                          # the UIs of a fresh demo

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

With ``--ui`` the same driver screenshots what a user looks at in the UIs:
``docs/img/mlflow-monitoring-charts.png`` (MLflow's chart view of the demo's
monitoring run) and ``docs/img/prefect-monitor-run.png`` (Prefect's page of a
monitor flow run, its logs with the cycle's decision sentence). Those pages
need their servers, so the script starts ``prefect server start`` (its own
home in a temporary folder) and ``mlflow server`` (on the demo's embedded
store) on free ports of 127.0.0.1, runs the demo against that Prefect server,
and stops both servers at the end. The browser is not in a namespace then, but
it resolves no host name or address other than loopback ones, and a page that
asked for anything beyond loopback fails the script. Each shot is taken once
the page has drawn what it is about (the chart markers, the log line), polled
over the protocol. ``tests/flows/test_demo_cycle.py`` counts the chart's
points the same way.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import ipaddress
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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

    @property
    def off_loopback_requests(self) -> list[str]:
        """Requests to anything but a loopback server, inline data or blank frames."""
        inline = ("data:", "about:", "blob:")
        return [u for u in self.requests if not (u.startswith(inline) or _on_loopback(u))]


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


def capture_offline(html_file: Path, **options: Any) -> PageCapture:
    """Open a local HTML file in headless Chromium with no network and capture it.

    Args:
        html_file: The page.
        **options: As :func:`capture_page` takes them (``width``, ``ready``, ...).

    Returns:
        The screenshot, the DOM, the requests and console messages.

    Raises:
        OfflineBrowserError: The network cannot be cut, Chromium is missing or fails,
            or the page does not become ready in time.
    """
    return capture_page(html_file.resolve().as_uri(), network="offline", **options)


#: Chromium resolves no host name nor address but loopback ones: a page on a loopback
#: server that asks for a font, a script or telemetry elsewhere gets nothing.
LOOPBACK_ONLY_RULES = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"


def capture_page(
    url: str,
    *,
    network: str = "offline",
    width: int = 1280,
    height: int = 900,
    full_page: bool = True,
    ready: str = "document.readyState === 'complete'",
    steps: Sequence[tuple[str, str]] = (),
    evaluate: dict[str, str] | None = None,
    timeout: float = 90.0,
    max_height: int = 20000,
) -> PageCapture:
    """Open a page in headless Chromium, wait until it has drawn, and capture it.

    Args:
        url: The page (``file:`` for a report, ``http://127.0.0.1:...`` for a UI).
        network: ``offline``: the browser runs in a network namespace with no
            interface up (:func:`offline_prefix`); ``loopback``: it shares the
            machine's network, for servers on 127.0.0.1, but resolves no host
            name (:data:`LOOPBACK_ONLY_RULES`) and ``url`` must be on loopback.
        width: Viewport width in CSS pixels.
        height: Viewport height in CSS pixels (the screenshot's, unless ``full_page``).
        full_page: Grow the viewport to the page's scroll height before the shot
            (a report scrolls as a document; a UI scrolls inside its panes).
        ready: JavaScript expression, polled until true once the page has drawn.
        steps: What a user would do next, in order, once ``ready``: pairs of a
            JavaScript statement (type in a search box, close a panel) and the
            expression polled until true once the page has drawn its effect.
        evaluate: Named JavaScript expressions evaluated after the steps, before
            the screenshot (JSON results; one may scroll the page, say).
        timeout: Seconds to wait for ``ready``, and for each step's.
        max_height: Tallest screenshot taken, in CSS pixels.

    Returns:
        The screenshot, the DOM, the requests and console messages.

    Raises:
        OfflineBrowserError: Chromium is missing or fails, the network cannot be
            cut (offline), ``url`` is not on loopback (loopback), or the page
            does not become ready in time.
    """
    browser = shutil.which(CHROMIUM)
    if browser is None:
        raise OfflineBrowserError(f"`{CHROMIUM}` is not installed")
    if network == "offline":
        prefix = offline_prefix()
        # Inside the namespace the browser runs as (mapped) root, which Chromium's
        # own sandbox refuses; the page is our own local file.
        network_args = ["--no-sandbox"]
    elif network == "loopback":
        if not _on_loopback(url):
            raise OfflineBrowserError(f"{url} is not on the loopback interface")
        prefix = []
        network_args = [
            "--no-sandbox",  # as in the offline case: containers often forbid its namespaces
            f"--host-resolver-rules={LOOPBACK_ONLY_RULES}",
            "--disable-quic",
            "--disable-component-update",
            "--disable-sync",
        ]
    else:
        raise ValueError(f"network must be 'offline' or 'loopback', not {network!r}")
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    to_r, from_w = _high_fd(to_r), _high_fd(from_w)
    profile = tempfile.mkdtemp(prefix="mlops-chromium-")
    args = [
        browser,
        "--headless",
        "--remote-debugging-pipe",
        *network_args,
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
    page = _PageOptions(
        width, height, full_page, ready, tuple(steps), evaluate or {}, timeout, max_height
    )
    try:
        return _drive(tools, url, page)
    finally:
        try:
            tools.call("Browser.close", timeout=10)
        except (OfflineBrowserError, OSError):
            pass  # already gone
        tools.close()
        shutil.rmtree(profile, ignore_errors=True)


def _on_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class _PageOptions:
    width: int
    height: int
    full_page: bool
    ready: str
    steps: tuple[tuple[str, str], ...]
    evaluate: dict[str, str]
    timeout: float
    max_height: int


def _drive(tools: _DevTools, url: str, page: _PageOptions) -> PageCapture:
    target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    for domain in ("Page", "Network", "Runtime", "Log"):
        tools.call(f"{domain}.enable", session=session)
    metrics = {"width": page.width, "height": page.height, "deviceScaleFactor": 1, "mobile": False}
    tools.call("Emulation.setDeviceMetricsOverride", metrics, session=session)
    tools.call("Page.navigate", {"url": url}, session=session)

    def evaluate_js(expression: str) -> Any:
        result = tools.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=session,
        )
        if "exceptionDetails" in result:
            raise OfflineBrowserError(f"{expression!r} failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(ready: str) -> None:
        deadline = time.monotonic() + page.timeout
        # Not ready while it throws too: the page may not have a body yet.
        probe = f"(() => {{ try {{ return Boolean({ready}); }} catch {{ return false; }} }})()"
        while not evaluate_js(probe):
            if time.monotonic() > deadline:
                shown = evaluate_js(
                    "location.href + ': ' + (document.body ? document.body.innerText : '')"
                )
                raise OfflineBrowserError(
                    f"the page did not become ready ({ready}) in {page.timeout} s; "
                    f"it shows {str(shown)[:600]!r}"
                )
            time.sleep(0.25)

    wait_for(page.ready)
    for action, ready in page.steps:
        evaluate_js(action)
        wait_for(ready)
    values = {name: evaluate_js(expression) for name, expression in page.evaluate.items()}
    if page.full_page:
        height = int(evaluate_js("document.documentElement.scrollHeight") or page.height)
        metrics["height"] = min(max(height, 300), page.max_height)
        tools.call("Emulation.setDeviceMetricsOverride", metrics, session=session)
    # Two animation frames: the new height or the evaluated changes (a scroll) laid out.
    evaluate_js(_TWO_FRAMES)
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


_TWO_FRAMES = (
    "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"
)


#: True once the embedded Evidently report has been unpacked and drawn.
EVIDENTLY_DRAWN = (
    "document.readyState === 'complete' && (() => {"
    " const f = document.getElementById('evidently-report');"
    " if (!f) return true;"
    " const d = f.contentDocument;"
    " return !!d && d.querySelectorAll('svg, canvas').length > 0; })()"
)


# ------------------------------------------------------ MLflow's run page
#: What MLflow 3.17's run page ("Model metrics" tab) has drawn: one entry per
#: chart card, with its title (the metric key), the markers plotted in its SVG
#: and, per trace drawn with markers, the steps and values Plotly was given.
#: Only cards scrolled into view are drawn (the page renders them lazily).
MLFLOW_CHARTS = """[...document.querySelectorAll('.js-plotly-plot')].map(plot => ({
  title: ((plot.closest('.react-resizable') || {}).innerText || '').split('\\n')[0].trim(),
  markers: plot.querySelectorAll('.scatterlayer .point').length,
  series: (plot.data || [])
    .filter(trace => String(trace.mode || '').includes('markers'))
    .map(trace => ({x: Array.from(trace.x || []), y: Array.from(trace.y || [])})),
}))"""


def mlflow_charts_drawn(keys: Sequence[str], min_points: int) -> str:
    """JavaScript: true once the run page shows a chart of each metric with enough markers.

    Args:
        keys: Metric keys (chart titles).
        min_points: Fewest markers drawn in each of those charts.
    """
    return (
        f"(() => {{ const charts = {MLFLOW_CHARTS}; return {json.dumps(list(keys))}.every("
        f"key => charts.some(c => c.title === key && c.markers >= {int(min_points)})); }})()"
    )


def mlflow_show_only(keys: Sequence[str]) -> str:
    """JavaScript: type a filter for exactly these metrics in the run page's chart search.

    The search box takes a case-insensitive regular expression over metric keys.
    The assistant panel MLflow opens beside the page is closed, as a user would.
    """
    pattern = "^(" + "|".join(re.escape(k) for k in keys) + ")$"
    return f"""(() => {{
  const close = document.querySelector('[data-component-id="mlflow.assistant.chat_panel.close"]');
  if (close) close.click();
  const search = document.querySelector('input[placeholder="Search metric charts"]');
  const setValue = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
  setValue.call(search, {json.dumps(pattern)});
  search.dispatchEvent(new Event('input', {{bubbles: true}}));
  return true; }})()"""


#: The run page's chart search box is there (the page has loaded the run).
MLFLOW_CHART_SEARCH = "document.querySelector('input[placeholder=\"Search metric charts\"]')"


# ------------------------------------------------- Prefect's flow-run page
def prefect_log_shown(text: str) -> str:
    """JavaScript: true once the flow-run page shows a log line containing ``text``.

    Shown means drawn within the viewport: the logs are a virtual list, drawn
    as they arrive and as they are scrolled to.
    """
    return f"""(() => {{
  const row = [...document.querySelectorAll('.log-row')]
    .find(r => r.innerText.includes({json.dumps(text)}));
  return !!row && row.getBoundingClientRect().bottom <= window.innerHeight; }})()"""


#: JavaScript: list the flow run's logs newest first, as its sort menu does.
PREFECT_LOGS_NEWEST_FIRST = """(() => {
  const sort = [...document.querySelectorAll('select')]
    .find(s => [...s.options].some(o => o.text === 'Newest to oldest'));
  const newest = [...sort.options].find(o => o.text === 'Newest to oldest');
  sort.value = newest.value;
  sort.dispatchEvent(new Event('change', {bubbles: true}));
  return true; })()"""


# ------------------------------------------------------------ loopback servers
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _console_script(name: str) -> str:
    """A console script of this environment (``mlflow``, ``prefect``), else from PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise OfflineBrowserError(f"`{name}` is not installed in this environment")
    return found


@contextmanager
def loopback_server(
    command: list[str], env: dict[str, str], health_url: str, log: Path, timeout: float = 180.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server in its own process group until the block ends; wait until it answers.

    Args:
        command: The server's command line (it must listen on loopback only).
        env: Its environment.
        health_url: A URL that answers 200 once the server is up.
        log: File that receives the server's output.
        timeout: Seconds to wait for ``health_url``.

    Yields:
        The server process. On leaving, its group gets SIGTERM, then SIGKILL
        after 20 s.

    Raises:
        OfflineBrowserError: The server exits or does not answer in time (with
            the end of its log).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - the environment's own console scripts
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(health_url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise OfflineBrowserError(f"{command[0]} did not answer {health_url}:\n{tail}")
            time.sleep(0.5)
        yield process
    finally:
        _stop_group(process)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - loopback http
            return reply.status == 200
    except (OSError, ValueError):
        return False


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 20.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break  # the whole group is gone
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            # The leader is gone; make sure no worker of its group lingers.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        break


def _server_env(**changes: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL")
    }
    # Neither server nor its browser page reports usage anywhere.
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false")
    # As `mlops up` runs MLflow: without the job runner of its GenAI features.
    env.update(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    env.update(changes)
    return env


@contextmanager
def mlflow_ui(data_root: Path, log: Path) -> Iterator[str]:
    """``mlflow server`` on the embedded store of a data root, on a free loopback port.

    The embedded store is the data root's ``mlflow.db`` (SQLite) and its
    ``mlartifacts`` folder (``tasks.mlflow_store.settings_for_data_root``); the
    runs' artifact locations are already absolute, so the server reads them
    where they are and serves no artifact store of its own.

    Yields:
        The UI's base URL, e.g. ``http://127.0.0.1:53211``.
    """
    from tasks.mlflow_store import settings_for_data_root

    settings = settings_for_data_root(Path(data_root).resolve())
    port = free_port()
    command = [
        _console_script("mlflow"),
        "server",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--backend-store-uri",
        settings.tracking_uri,
        "--default-artifact-root",
        str(settings.artifact_root),
        "--no-serve-artifacts",
        "--workers",
        "1",
    ]
    url = f"http://{LOOPBACK}:{port}"
    with loopback_server(command, _server_env(), f"{url}/health", log):
        yield url


@contextmanager
def prefect_ui(prefect_home: Path, log: Path) -> Iterator[str]:
    """``prefect server start`` with its own home (and database), on a free loopback port.

    Yields:
        The API URL, e.g. ``http://127.0.0.1:53212/api``; the UI is served at its root.
    """
    port = free_port()
    api = f"http://{LOOPBACK}:{port}/api"
    env = _server_env(
        PREFECT_HOME=str(prefect_home),
        PREFECT_UI_API_URL=api,
        PREFECT_SERVER_API_HOST=LOOPBACK,
        PREFECT_SERVER_API_PORT=str(port),
    )
    env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)  # its own SQLite under PREFECT_HOME
    command = [
        _console_script("prefect"),
        "server",
        "start",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
    ]
    with loopback_server(command, env, f"{api}/health", log):
        yield api


# --------------------------------------------------------------------- script
def _latest_cycle(rt: Any) -> Any:
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
    return chosen[0]  # newest first


#: The monitoring run's charts in the MLflow screenshot: errors and drift, then decisions.
UI_CHART_METRICS = (
    "realized",
    "estimated",
    "drift_share",
    "retrain",
    "promoted",
    "champion_version",
)


def ui_screenshots(out: Path, seed: int, live_periods: int, width: int, work: Path) -> None:
    """Run the demo against a private Prefect server, then screenshot both UIs of it.

    Everything runs on loopback: ``prefect server start`` with its own home in
    ``work``, the demo (in this process) against it with its MLflow store in
    ``work/home``, then ``mlflow server`` on that store. Writes
    ``mlflow-monitoring-charts.png`` (the monitoring run's chart view) and
    ``prefect-monitor-run.png`` (the flow-run page of the latest cycle that
    promoted, its logs newest first) into ``out``.
    """
    home = work / "home"
    with prefect_ui(work / "prefect", work / "prefect-server.log") as api:
        # Before Prefect is first imported: it reads its settings then. The
        # command's defaults (set_environment_defaults) keep the console at
        # warnings while each cycle's INFO decision sentence reaches the run's logs.
        os.environ["PREFECT_API_URL"] = api
        os.environ.pop("MLFLOW_TRACKING_URI", None)  # the demo's embedded store
        from flows.cli import set_environment_defaults

        set_environment_defaults()
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

        from flows.demo import SHIPPED_USECASE, demo
        from tasks.runtime import open_runtime
        from tasks.tags import TAG_BATCH_NAME, TAG_PERIOD

        started = time.monotonic()
        rows = demo(data_root=str(home), seed=seed, live_periods=live_periods)
        print(f"demo: {len(rows)} cycles in {time.monotonic() - started:.0f} s")
        rt = open_runtime(SHIPPED_USECASE, str(home))
        cycle = _latest_cycle(rt)
        period = int(cycle.tags[TAG_PERIOD])
        row = next(r for r in rows if r.period == period)
        sentence = f"Decision: {row.decision} (reason code {row.reason})"
        with get_client(sync_client=True) as client:
            [flow_run] = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    name=FlowRunFilterName(any_=[f"monitor {cycle.tags[TAG_BATCH_NAME]}"])
                )
            )
        page = f"{api.removesuffix('/api')}/runs/flow-run/{flow_run.id}"
        _save(
            capture_page(
                page,
                network="loopback",
                width=width,
                height=1100,
                full_page=False,
                ready=f"document.body.innerText.includes({json.dumps(sentence)})",
                steps=[(PREFECT_LOGS_NEWEST_FIRST, prefect_log_shown(sentence))],
                timeout=180,
            ),
            out / "prefect-monitor-run.png",
            page,
        )

    from tasks import monitoring_history
    from tasks.mlflow_store import mlflow_ui_link

    experiment = rt.client.get_experiment_by_name(rt.usecase.monitoring_experiment_name)
    run_id = monitoring_history.find_monitoring_run(rt.client, experiment.experiment_id)
    # The shot waits until every chart shows all its points (the demo's default: 22 or more).
    points = min(len(rt.client.get_metric_history(run_id, key)) for key in UI_CHART_METRICS)
    with mlflow_ui(home, work / "mlflow-server.log") as url:
        page = mlflow_ui_link(url, experiment.experiment_id, run_id)
        _save(
            capture_page(
                page,
                network="loopback",
                width=width,
                height=1000,
                full_page=False,
                ready=MLFLOW_CHART_SEARCH,
                steps=[
                    (
                        mlflow_show_only(UI_CHART_METRICS),
                        mlflow_charts_drawn(UI_CHART_METRICS, points),
                    )
                ],
                timeout=180,
            ),
            out / "mlflow-monitoring-charts.png",
            page,
        )


def _save(capture: PageCapture, path: Path, page: str) -> None:
    if capture.off_loopback_requests:
        raise SystemExit(f"{page} asked beyond loopback for {capture.off_loopback_requests}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(capture.png)
    print(f"{path}: {len(capture.png):,} bytes from {page}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=Path(".mlops-demo"), help="Demo data root.")
    parser.add_argument("--run-demo", action="store_true", help="Run the demo into --home first.")
    parser.add_argument("--seed", type=int, default=7, help="Demo seed (--run-demo, --ui).")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img", help="PNG folder.")
    parser.add_argument("--width", type=int, default=1280, help="Page width in CSS pixels.")
    parser.add_argument(
        "--max-height", type=int, default=2400, help="Screenshot height cap in CSS pixels."
    )
    parser.add_argument(
        "--ui",
        action="store_true",
        help="Screenshot the MLflow and Prefect UIs of a fresh demo instead (servers on "
        "loopback, demo in a temporary folder; minutes).",
    )
    parser.add_argument(
        "--live-periods", type=int, default=26, help="Demo weeks after the bootstrap (with --ui)."
    )
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    if args.ui:
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="mlops-ui-shots-") as work:
            ui_screenshots(args.out, args.seed, args.live_periods, args.width, Path(work))
        print(f"UI screenshots in {time.monotonic() - started:.0f} s")
        return
    from flows.cli import set_environment_defaults

    set_environment_defaults()
    from flows.demo import SHIPPED_USECASE, demo
    from flows.report_writer import history_report, write_cycle_report
    from tasks.runtime import open_runtime

    if args.run_demo:
        demo(data_root=str(args.home), seed=args.seed)
    rt = open_runtime(SHIPPED_USECASE, str(args.home))
    cycle = write_cycle_report(rt, _latest_cycle(rt).run_id)
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
