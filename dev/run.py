"""`make run`: serve the function locally, wired to emulators unless configured.

With no CLOUDFLARE_ACCOUNT_ID in the environment or in `.env` (ENV_FILE names
another file; ENV_FILE= reads none), it starts the AI Gateway emulator and the
Secret Manager emulator on free loopback ports, seeds a demo Gemini key into
Secret Manager, and serves the function on :8080 (or $PORT) with
ALLOW_UNAUTHENTICATED=true, so `curl` works offline. With configuration, it
serves against the real gateway with that configuration and nothing else added.

Everything listens on 127.0.0.1 unless HOST says otherwise (HOST=0.0.0.0 to
let other machines call it). Once the function is up, it sends the request
that the printed `curl` line sends, and prints that line only if the function
answered 200; otherwise it prints the status, the function's message and what
to fix. Ctrl-C (SIGINT), SIGTERM or SIGHUP stop every process it started.

With the emulators it also shows an answer that arrives later (docs/API.md
§12): a local callback receiver (in this process, on a free loopback
port) is the one allowed CALLBACK_URL_PREFIXES entry, deliveries are signed
with a secret made for this run, and it sends `Prefer: respond-async` with a
`callback`, prints the `202` and a `curl` line for it, and the receiver
prints each delivery once the standardwebhooks package has verified it. Jobs
run in the function's process (no JOBS_QUEUE: the embedded default).

Only the standard library, python-dotenv and the runtime are needed
(requirements-run.txt): `make run` does not install the test toolchain.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO_SECRET = "projects/demo-project/secrets/gemini-api-key"
DEMO_KEY = "AQ.Ab8RN6LdemoEmulatorKey-not-a-secret_example"  # auth-key format, as AI Studio issues today
LOOPBACK = "127.0.0.1"
PROMPT = "What is Cloudflare?"
ANY_ADDRESS = ("0.0.0.0", "::", "")


FIXES = {
    "CLOUDFLARE_ACCOUNT_ID": "your Cloudflare account id (32 hex characters, shown in the dashboard and its URLs)",
    "AI_GATEWAY_ID": "the name of your gateway (dashboard, AI → AI Gateway)",
    "GEMINI_API_KEY_SECRET": "projects/P/secrets/S/versions/latest, or GEMINI_API_KEY=<your AI Studio key> locally",
    "ALLOW_UNAUTHENTICATED": "no caller check is configured: set CLIENT_API_KEYS=me:<a long random key> (make run "
    "then sends it), or ALLOW_UNAUTHENTICATED=true to try it locally without one",
    "DEFAULT_MODEL": "a Gemini model id, e.g. gemini-3.8-flash; it must be in ALLOWED_MODELS if that is set",
    "ALLOWED_MODELS": "a comma list of model ids that includes DEFAULT_MODEL",
}


class Stopped(Exception):
    """SIGTERM or SIGHUP arrived: stop the children and leave."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _wait(host: str, port: int, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited with code {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{name} did not start on {host}:{port}")


def _load_dotenv() -> None:
    """`.env` (or $ENV_FILE; empty: none) into os.environ, never overriding what is already set."""
    name = os.environ.get("ENV_FILE", ".env")
    if not name:
        return
    env_file = ROOT / name
    if env_file.exists():
        from dotenv import load_dotenv

        load_dotenv(env_file, override=False)
        print(f"loaded {env_file.name}", flush=True)
    elif "ENV_FILE" in os.environ:
        sys.exit(f"ENV_FILE={name}: no such file")


def _first_client_key(value: str) -> str | None:
    """The key of the first `name:key` entry of CLIENT_API_KEYS (comma- or newline-separated)."""
    for raw in re.split(r"[,\n]", value):
        entry = raw.strip()
        if entry and not entry.startswith("#"):
            _, sep, key = entry.partition(":")
            return key.strip() if sep and key.strip() else None
    return None


def _detach() -> None:
    """In the child: die with this process (Linux), even if it is killed without a chance to clean up."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _spawn(args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
    # Its own process group: Ctrl-C reaches only this script, which then stops each group
    # (functions-framework's gunicorn workers included) in order, without tracebacks from every child.
    preexec = _detach if sys.platform == "linux" else None
    return subprocess.Popen(args, cwd=ROOT, process_group=0, preexec_fn=preexec, **kw)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in reversed(children):
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        # Anything the child left behind in its group (a gunicorn worker) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def _probe(
    url: str, headers: Mapping[str, str], timeout: float, body: Mapping[str, Any] | None = None
) -> tuple[int | None, dict[str, Any], str]:
    """POST / as the printed curl line does: (status or None, JSON body, transport error)."""
    request = urllib.request.Request(
        url + "/",
        data=json.dumps(body or {"prompt": PROMPT}).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via $http_proxy
    try:
        with opener.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (OSError, TimeoutError) as exc:
        return None, {}, str(getattr(exc, "reason", exc))
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    return status, body if isinstance(body, dict) else {}, ""


def _advice(status: int | None, error: Mapping[str, Any], env: Mapping[str, str]) -> str:
    if status is None:
        return "The function did not answer: see its log above."
    if status in (401, 403):
        if env.get("CLIENT_API_KEYS_SECRET") and not env.get("CLIENT_API_KEYS"):
            return (
                "Callers must send a client key: the keys are in Secret Manager (CLIENT_API_KEYS_SECRET), so send one "
                "with -H 'Authorization: Bearer <key>'. For a local try, put CLIENT_API_KEYS=me:<a long random key> "
                "in .env (make run then sends that key) and run `make run` again."
            )
        return (
            "Callers must authenticate: put CLIENT_API_KEYS=me:<a long random key> in .env (make run then sends "
            "the first key), or ALLOW_UNAUTHENTICATED=true to try without a caller check, and run `make run` again."
        )
    if status == 503:
        return (
            "The function could not read a secret: check GEMINI_API_KEY_SECRET (projects/P/secrets/S/versions/V) and "
            "that your Application Default Credentials (gcloud auth application-default login) may access it, "
            "or use GEMINI_API_KEY locally."
        )
    if status == 400:
        return "The function refused the request: check DEFAULT_MODEL and ALLOWED_MODELS in .env."
    if status == 429:
        return "Rate limited (RATE_LIMIT_PER_MINUTE, the gateway's limits or Gemini's quota): try again shortly."
    if status in (502, 504):
        return (
            "The gateway or Gemini refused the call or did not answer in time: check CLOUDFLARE_ACCOUNT_ID, "
            "AI_GATEWAY_ID, AI_GATEWAY_TOKEN (authenticated gateways) and the Gemini key; the function's log above "
            "has the details."
        )
    return "See the function's log above."


def _refusal(env: Mapping[str, str]) -> str | None:
    """What the function would refuse to start with (the same check as its start), told for a person."""
    sys.path.insert(0, str(ROOT))
    from gemini_gateway.runtime import configuration_problems

    problems = configuration_problems(env)
    if not problems:
        return None
    lines = [f"  {var}: {why}" + (f"\n    ({FIXES[var]})" if var in FIXES else "") for var, why in problems]
    return (
        f"The function cannot start: its configuration has {len(problems)} problem{'s' if len(problems) > 1 else ''}"
        " (a deployed revision would refuse to start the same way):\n"
        + "\n".join(lines)
        + "\n\nFix them in .env (every variable is described in .env.example) and run `make run` again."
    )


def _url(host: str, port: str | int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _check(url: str, env: Mapping[str, str]) -> bool:
    """Send the printed curl line's request; print the line if it answered 200, else what went wrong and what to do."""
    headers: dict[str, str] = {}
    key = _first_client_key(env.get("CLIENT_API_KEYS", ""))
    if key:
        headers["Authorization"] = f"Bearer {key}"
    timeout = float(env.get("UPSTREAM_TIMEOUT_SECONDS") or 60) + 5
    data = json.dumps({"prompt": PROMPT})
    print(f"Checking it: POST {url}/ {data}", flush=True)
    status, body, failure = _probe(url, headers, timeout)
    if status == 200:
        curl = f"curl -s {url}/ -H 'Content-Type: application/json'"
        for name, value in headers.items():
            curl += f" -H {shlex.quote(f'{name}: {value}')}"
        curl += f" -d {shlex.quote(data)}"
        text = " ".join(str(body.get("text", "")).split())
        print(f"It answered 200 ({text[:60]}{'…' if len(text) > 60 else ''}). Try:\n\n  {curl}\n", flush=True)
        return True
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    what = f"{status} {error.get('type', '')}".strip() if status else f"nothing ({failure})"
    message = error.get("message", "")
    print(
        f"It answered {what}" + (f": {message}" if message else "") + f"\n\n{_advice(status, error, env)}\n", flush=True
    )
    return False


class CallbackReceiver:
    """A local receiver for job callbacks: verifies each delivery (standardwebhooks) and prints it."""

    def __init__(self) -> None:
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()  # made for this run only
        self.received = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 16 * 1024 * 1024))
                receiver.deliver(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.prefix = f"http://{LOOPBACK}:{self._server.server_address[1]}/callbacks/"
        threading.Thread(target=self._server.serve_forever, name="callback-receiver", daemon=True).start()

    def deliver(self, body: bytes, headers: dict[str, str]) -> None:
        from standardwebhooks import Webhook, WebhookVerificationError

        try:
            event = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            print(f"\nCallback refused: its signature did not verify ({exc})", flush=True)
            return
        data = event.get("data", {})
        outcome = data.get("result", {}).get("text") if "result" in data else data.get("error", {}).get("message")
        shown = " ".join(str(outcome or "").split())
        print(
            f"\nCallback received and verified (Standard Webhooks, webhook-id {headers.get('webhook-id')}): "
            f"{event.get('type')} {data.get('id')}: {shown[:60]}{'…' if len(shown) > 60 else ''}\n",
            flush=True,
        )
        self.received.set()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _show_async(url: str, env: Mapping[str, str], receiver: CallbackReceiver) -> None:
    """An answer that arrives later: `Prefer: respond-async` with a callback, then the verified delivery."""
    headers = {"Prefer": "respond-async"}
    key = _first_client_key(env.get("CLIENT_API_KEYS", ""))
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = {"prompt": "What is a webhook?", "callback": {"url": receiver.prefix + "demo"}}
    status, answer, failure = _probe(url, headers, 10.0, body)
    job = answer.get("job") if isinstance(answer.get("job"), dict) else {}
    if status != 202 or not job:
        print(f"The asynchronous call answered {status or failure}: {answer}\n", flush=True)
        return
    curl = f"curl -s {url}/ -H 'Content-Type: application/json'"
    for name, value in headers.items():
        curl += f" -H {shlex.quote(f'{name}: {value}')}"
    curl += f" -d {shlex.quote(json.dumps(body))}"
    print(
        f"An answer that arrives later: it answered 202 with job {job.get('id')} ({url}{job.get('status_url')}); "
        f"the answer goes to the local receiver at {receiver.prefix}. Try:\n\n  {curl}\n",
        flush=True,
    )
    receiver.received.wait(10)


def main() -> int:
    _load_dotenv()
    env = dict(os.environ)
    port = env.setdefault("PORT", "8080")
    host = env.get("HOST") or LOOPBACK
    env["HOST"] = host  # functions-framework gets --host, the demo page server --bind
    connect = LOOPBACK if host in ANY_ADDRESS else host.strip("[]")  # where this script finds the servers
    shown = "localhost" if host in (*ANY_ADDRESS, LOOPBACK, "localhost") else host.strip("[]")
    children: list[subprocess.Popen[bytes]] = []
    receiver: CallbackReceiver | None = None
    # SIGINT too: a shell starts `make run &` with SIGINT ignored, and Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    try:
        emulated = not env.get("CLOUDFLARE_ACCOUNT_ID")
        if emulated:
            gateway_port, secrets_port = _free_port(), _free_port()
            gateway = _spawn(
                [
                    sys.executable,
                    "-m",
                    "emulators.ai_gateway",
                    "--port",
                    str(gateway_port),
                    "--key",
                    DEMO_KEY,
                    "--stream-delay",
                    "0.05",
                ],
            )
            children.append(gateway)
            secrets = _spawn(
                [
                    sys.executable,
                    "-m",
                    "emulators.secret_manager",
                    "--port",
                    str(secrets_port),
                    "--seed",
                    f"{DEMO_SECRET}={DEMO_KEY}",
                ],
            )
            children.append(secrets)
            _wait(LOOPBACK, gateway_port, gateway, "AI Gateway emulator")
            _wait(LOOPBACK, secrets_port, secrets, "Secret Manager emulator")
            env.update(
                CLOUDFLARE_ACCOUNT_ID="demo-account",
                AI_GATEWAY_ID="demo-gateway",
                AI_GATEWAY_BASE_URL=f"http://{LOOPBACK}:{gateway_port}",
                GEMINI_API_KEY_SECRET=f"{DEMO_SECRET}/versions/latest",
                SECRET_MANAGER_EMULATOR_HOST=f"{LOOPBACK}:{secrets_port}",
                ALLOW_UNAUTHENTICATED="true",
            )
            if not env.get("CALLBACK_URL_PREFIXES"):
                receiver = CallbackReceiver()
                env.update(CALLBACK_URL_PREFIXES=receiver.prefix, CALLBACK_SIGNING_SECRET=receiver.secret)
        # The demo chat page (demo/index.html) on its own port; it calls the function cross-origin.
        demo_port = env.get("DEMO_PORT", "8081")
        demo_origins = list(dict.fromkeys(_url(h, demo_port) for h in (shown, "localhost", LOOPBACK)))
        if emulated:
            env["ALLOWED_ORIGINS"] = ",".join(demo_origins)
        demo = _spawn(
            [sys.executable, "-m", "http.server", demo_port, "--bind", host, "--directory", str(ROOT / "demo")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        children.append(demo)
        if not env.get("PROMPTS_DIR") and not any((ROOT / "prompts").glob("*.prompt")):
            env["PROMPTS_DIR"] = str(ROOT / "prompts" / "examples")  # the example templates, until there are yours
            print("Serving the example templates in prompts/examples (POST /v1/templates/{id}).", flush=True)
        refusal = _refusal(env)
        if refusal is not None:
            print(refusal, flush=True)
            return 1
        server = _spawn(
            [
                sys.executable,
                "-m",
                "functions_framework",
                "--target",
                "generate",
                "--source",
                "main.py",
                "--host",
                host,
            ],
            env=env,
        )
        children.append(server)
        _wait(connect, int(demo_port), demo, "the demo page server")
        _wait(connect, int(port), server, "the function")
        mode = (
            "local emulators (offline)"
            if emulated
            else f"AI Gateway {env.get('AI_GATEWAY_BASE_URL', 'https://gateway.ai.cloudflare.com/v1')}"
        )
        url = _url(shown, port)
        exposed = " (all interfaces: other machines can call it)" if host in ANY_ADDRESS else ""
        print(f"\nThe function is serving on {url}, listening on {host}{exposed}, against {mode}.", flush=True)
        if _check(url, env) and receiver is not None:
            _show_async(url, env, receiver)
        print(
            f"The demo chat page: {demo_origins[0]}/?url={url}"
            + (
                ""
                if emulated or demo_origins[0] in env.get("ALLOWED_ORIGINS", "")
                else f" (add {demo_origins[0]} to ALLOWED_ORIGINS)"
            )
            + "\n\nCtrl-C stops everything.\n",
            flush=True,
        )
        return server.wait()
    except (KeyboardInterrupt, Stopped):
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        _stop(children)
        if receiver is not None:
            receiver.close()


if __name__ == "__main__":
    sys.exit(main())
