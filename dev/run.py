"""`make run`: serve the function locally, wired to emulators unless configured.

With no CLOUDFLARE_ACCOUNT_ID in the environment or in `.env`, it starts the
AI Gateway emulator and the Secret Manager emulator on free loopback ports,
seeds a demo Gemini key into Secret Manager, and serves the function on
:8080 (or $PORT) with ALLOW_UNAUTHENTICATED=true, so `curl` works offline.
With configuration, it serves against the real gateway with that
configuration and nothing else added.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_SECRET = "projects/demo-project/secrets/gemini-api-key"
DEMO_KEY = "demo-gemini-key-not-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{name} did not start on port {port}")


def _load_dotenv() -> None:
    env_file = ROOT / ".env"
    if env_file.exists():
        from dotenv import load_dotenv

        load_dotenv(env_file, override=False)
        print(f"loaded {env_file.name}")


def main() -> int:
    _load_dotenv()
    env = dict(os.environ)
    port = env.setdefault("PORT", "8080")
    children: list[subprocess.Popen[bytes]] = []
    emulated = not env.get("CLOUDFLARE_ACCOUNT_ID")
    if emulated:
        gateway_port, secrets_port = _free_port(), _free_port()
        gateway = subprocess.Popen(
            [sys.executable, "-m", "emulators.ai_gateway", "--port", str(gateway_port), "--key", DEMO_KEY, "--stream-delay", "0.05"],
            cwd=ROOT,
        )
        children.append(gateway)
        secrets = subprocess.Popen(
            [sys.executable, "-m", "emulators.secret_manager", "--port", str(secrets_port), "--seed", f"{DEMO_SECRET}={DEMO_KEY}"],
            cwd=ROOT,
        )
        children.append(secrets)
        _wait(gateway_port, gateway, "AI Gateway emulator")
        _wait(secrets_port, secrets, "Secret Manager emulator")
        env.update(
            CLOUDFLARE_ACCOUNT_ID="demo-account",
            AI_GATEWAY_ID="demo-gateway",
            AI_GATEWAY_BASE_URL=f"http://127.0.0.1:{gateway_port}",
            GEMINI_API_KEY_SECRET=f"{DEMO_SECRET}/versions/latest",
            SECRET_MANAGER_EMULATOR_HOST=f"127.0.0.1:{secrets_port}",
            ALLOW_UNAUTHENTICATED="true",
        )
    # The demo chat page (demo/index.html) on its own port; it calls the function cross-origin.
    demo_port = env.get("DEMO_PORT", "8081")
    demo_origins = [f"http://localhost:{demo_port}", f"http://127.0.0.1:{demo_port}"]
    if emulated:
        env["ALLOWED_ORIGINS"] = ",".join(demo_origins)
    demo = subprocess.Popen(
        [sys.executable, "-m", "http.server", demo_port, "--bind", "127.0.0.1", "--directory", str(ROOT / "demo")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children.append(demo)
    _wait(int(demo_port), demo, "the demo page server")
    server = subprocess.Popen(
        [sys.executable, "-m", "functions_framework", "--target", "generate", "--source", "main.py"],
        cwd=ROOT,
        env=env,
    )
    children.append(server)
    _wait(int(port), server, "the function")
    mode = "local emulators (offline)" if emulated else f"AI Gateway {env.get('AI_GATEWAY_BASE_URL', 'https://gateway.ai.cloudflare.com/v1')}"
    print(
        f"\nThe function is serving on http://localhost:{port} against {mode}. Try:\n\n"
        f"  curl -s http://localhost:{port}/ -H 'Content-Type: application/json' "
        "-d '{\"prompt\": \"What is Cloudflare?\"}'\n\n"
        f"The demo chat page: http://localhost:{demo_port}/?url=http://localhost:{port}"
        + ("" if emulated or demo_origins[0] in env.get("ALLOWED_ORIGINS", "") else f" (add {demo_origins[0]} to ALLOWED_ORIGINS)")
        + "\n\nCtrl-C stops everything.\n",
        flush=True,
    )
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    sys.exit(main())
