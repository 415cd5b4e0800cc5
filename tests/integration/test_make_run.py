"""`make run` (dev/run.py) as a newcomer meets it: the printed curl line works, only loopback listens, Ctrl-C cleans up.

Each case starts dev/run.py the way `make run` does, on free ports, with no
`.env` (ENV_FILE=) and none of the developer's gateway configuration, and
reads what it prints.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ROOT, free_port

pytestmark = pytest.mark.slow  # three starts of the whole local stack, ~3 s each

READY = "Ctrl-C stops everything."
# Configuration a developer may have exported; dev/run.py must not see it here.
CONFIG_VARIABLES = (
    "HOST",
    "CLOUDFLARE_ACCOUNT_ID",
    "AI_GATEWAY_ID",
    "AI_GATEWAY_BASE_URL",
    "AI_GATEWAY_TOKEN",
    "AI_GATEWAY_TOKEN_SECRET",
    "GEMINI_API_KEY",
    "GEMINI_API_KEY_SECRET",
    "CLIENT_API_KEYS",
    "CLIENT_API_KEYS_SECRET",
    "ALLOW_UNAUTHENTICATED",
    "ALLOWED_ORIGINS",
    "FIREBASE_PROJECT_ID",
    "APP_CHECK_PROJECT_NUMBER",
    "WEBHOOK_SECRET",
    "WEBHOOK_SECRET_SECRET",
    "RATE_LIMIT_PER_MINUTE",
    "REDIS_URL",
    "SECRET_MANAGER_EMULATOR_HOST",
    "CALLBACK_URL_PREFIXES",
    "CALLBACK_SIGNING_SECRET",
    "JOBS_QUEUE",
)


@pytest.fixture(autouse=True)
def _clean_gateway() -> None:
    """These tests start their own emulators (through dev/run.py): no shared gateway to reset."""


def _ppids() -> dict[int, int]:
    """pid → parent pid of every process visible in /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            found[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    return found


def _alive(pid: int) -> bool:
    """Running, i.e. neither gone nor a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _listen_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on `port`, from /proc/net/tcp and tcp6."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                address, _, hex_port = fields[1].partition(":")
                if fields[3] != "0A" or int(hex_port, 16) != port:  # 0A: TCP_LISTEN
                    continue
                raw = bytes.fromhex(address)
                # The kernel prints each 32-bit word in host (little-endian) order.
                ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                family = socket.AF_INET if width == 8 else socket.AF_INET6
                found.add(socket.inet_ntop(family, ordered))
    return found


def _non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, if it has one."""
    candidates = set()
    with contextlib.suppress(OSError):
        candidates.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET))
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
        candidates.add(probe.getsockname()[0])
    return next((a for a in sorted(candidates) if not a.startswith("127.") and a != "0.0.0.0"), None)


class Run:
    """dev/run.py in a child process, as `make run` starts it."""

    def __init__(self, tmp: Path, ready: bool = True, **env: str) -> None:
        self.port, self.demo_port = free_port(), free_port()
        full_env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
        full_env.update(PORT=str(self.port), DEMO_PORT=str(self.demo_port), ENV_FILE="", PYTHONUNBUFFERED="1", **env)
        self.log = tmp / f"make-run-{self.port}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "dev/run.py"],
                cwd=ROOT,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 90
        while ready and READY not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"dev/run.py did not get ready; it printed:\n{self.output()}")
            time.sleep(0.1)
        self.children = self.descendants()
        if not ready:
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.kill()
                pytest.fail(f"dev/run.py did not stop; it printed:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def printed(self) -> str:
        """What dev/run.py itself printed: its output without the servers' JSON log lines."""
        return "\n".join(line for line in self.output().splitlines() if not line.startswith("{"))

    def curl_line(self) -> str | None:
        lines = [line.strip() for line in self.output().splitlines() if line.strip().startswith("curl ")]
        return lines[0] if lines else None

    def descendants(self) -> set[int]:
        ppids, found, frontier = _ppids(), set(), {self.proc.pid}
        while frontier:
            frontier = {pid for pid, ppid in ppids.items() if ppid in frontier} - found
            found |= frontier
        return found

    def stop(self, signum: int) -> int:
        """Send `signum` to dev/run.py alone (not its group), as `kill` or a process manager would."""
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"dev/run.py still running 20 s after {signal.Signals(signum).name}:\n{self.output()}")

    def kill(self) -> None:
        """Clean-up after a failure: whatever it started and is still running, by pid (they have their own groups)."""
        for pid in {*self.descendants(), *getattr(self, "children", set())}:
            if _alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("make-run")


@pytest.fixture(scope="module")
def offline(tmp: Path) -> Iterator[Run]:
    """The newcomer's `make run`: no configuration, local emulators."""
    run = Run(tmp)
    try:
        yield run
        assert run.stop(signal.SIGTERM) == 0
        _assert_all_gone(run)  # SIGTERM stops the emulators, the demo page server and the function
    finally:
        run.kill()


def _send_curl_line(line: str) -> tuple[int, dict[str, object]]:
    """Run the printed line with curl when there is one, else send what it says with httpx."""
    args = shlex.split(line)
    if shutil.which("curl"):
        done = subprocess.run([*args, "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=30)
        body, _, status = done.stdout.rpartition("\n")
        return int(status), json.loads(body)
    url = next(a for a in args if a.startswith("http"))
    headers = dict(args[i + 1].split(": ", 1) for i, a in enumerate(args) if a == "-H")
    response = httpx.post(url, headers=headers, content=args[args.index("-d") + 1], timeout=30)
    return response.status_code, response.json()


def test_the_printed_curl_line_works(offline: Run) -> None:
    assert "It answered 200" in offline.printed(), offline.output()
    line = offline.curl_line()
    assert line is not None, offline.output()
    assert line.startswith(f"curl -s http://localhost:{offline.port}/ ") and "Authorization" not in line
    status, body = _send_curl_line(line)
    assert status == 200 and body["text"] == "Echo: What is Cloudflare?", body


def test_an_answer_that_arrives_later_is_shown_and_its_callback_verified(offline: Run) -> None:
    printed = offline.printed()
    assert "it answered 202 with job job_" in printed, offline.output()
    assert "Callback received and verified (Standard Webhooks" in printed and "job.succeeded" in printed, printed
    lines = [line.strip() for line in offline.output().splitlines() if line.strip().startswith("curl ")]
    assert len(lines) == 2 and "Prefer: respond-async" in lines[1] and '"callback"' in lines[1]
    args = shlex.split(lines[1])
    headers = dict(args[i + 1].split(": ", 1) for i, a in enumerate(args) if a == "-H")
    r = httpx.post(f"http://127.0.0.1:{offline.port}/", headers=headers, content=args[args.index("-d") + 1], timeout=10)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 10
    while offline.printed().count("Callback received and verified") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert offline.printed().count("Callback received and verified") == 2, offline.printed()


def test_the_example_templates_are_served(offline: Run) -> None:
    assert "example templates in prompts/examples" in offline.printed(), offline.output()
    url = f"http://127.0.0.1:{offline.port}/v1/templates/summarize"
    response = httpx.post(url, json={"inputs": {"ticket": "The app crashes."}}, timeout=30)
    assert response.status_code == 200 and response.json()["template"] == "summarize", response.text


def test_binds_loopback_only(offline: Run) -> None:
    for port in (offline.port, offline.demo_port):
        assert _listen_addresses(port) == {"127.0.0.1"}, (port, _listen_addresses(port))
    address = _non_loopback_address()
    if address is None:
        return  # a machine with loopback only: the /proc check above is the whole test
    for port in (offline.port, offline.demo_port):
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=2):
            pass


def test_client_keys_go_into_the_curl_line_and_sigint_stops_everything(tmp: Path) -> None:
    run = Run(tmp, CLIENT_API_KEYS="me:local-key-1, other:local-key-2")
    try:
        line = run.curl_line()
        assert line is not None, run.output()
        assert "-H 'Authorization: Bearer local-key-1'" in line
        assert _send_curl_line(line)[0] == 200
        assert httpx.post(f"http://127.0.0.1:{run.port}/", json={"prompt": "hi"}, timeout=10).status_code == 401
        # two emulators, the demo page server, the function (and its gunicorn worker)
        assert len(run.children) >= 4, run.children
        assert run.stop(signal.SIGINT) == 0
        _assert_all_gone(run)
    finally:
        run.kill()


def test_a_configuration_that_cannot_start_is_explained_and_nothing_is_left_running(tmp: Path) -> None:
    # Configured for a real gateway but without a Gemini key or a caller check: the function would refuse to
    # start (docs/API.md §2), so make run says why, names each variable, and stops.
    run = Run(
        tmp, ready=False, CLOUDFLARE_ACCOUNT_ID="acct", AI_GATEWAY_ID="gw", AI_GATEWAY_BASE_URL="http://127.0.0.1:9"
    )
    try:
        printed = run.printed()
        assert run.proc.returncode == 1, printed
        assert run.curl_line() is None, printed
        assert "cannot start" in printed and "GEMINI_API_KEY_SECRET" in printed, printed
        assert "ALLOW_UNAUTHENTICATED" in printed and "in .env" in printed  # and says what to do
        _assert_all_gone(run)
    finally:
        run.kill()


def test_a_broken_template_is_explained_naming_its_file(tmp: Path) -> None:
    prompts = tmp / "broken-prompts"
    prompts.mkdir()
    (prompts / "triage.prompt").write_text("---\nmodel: gemini-1.0-pro\n---\nHi", encoding="utf-8")
    run = Run(tmp, ready=False, PROMPTS_DIR=str(prompts))
    try:
        printed = run.printed()
        assert run.proc.returncode == 1 and run.curl_line() is None, printed
        assert f"{prompts}/triage.prompt: model gemini-1.0-pro is not allowed" in printed, printed
        _assert_all_gone(run)
    finally:
        run.kill()


def _assert_all_gone(run: Run) -> None:
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in run.children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in run.children if _alive(pid)], run.output()
    for port in (run.port, run.demo_port):
        assert not _listen_addresses(port), port
    assert not re.search(r"Traceback", run.printed()), run.printed()
