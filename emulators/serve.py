"""How every emulator runs from the command line: its argument parser, its aiohttp server, its clean stop.

Why: tests and benchmarks start each emulator as a process, wait for its one "listening" line, and end it
with SIGTERM; each emulator must answer that alike (close its sockets, exit 0) without its own copy of
the runner and signal code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from aiohttp import web

__all__ = ["cli_parser", "serve_app", "start_app", "stop_event"]


def cli_parser(module: str, doc: str | None, port_help: str | None = None) -> argparse.ArgumentParser:
    """A parser named `python -m MODULE`, described by the doc's first line, with `--host` and a required `--port`."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=(doc or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help=port_help)
    return parser


def stop_event() -> asyncio.Event:
    """An event that SIGTERM or SIGINT sets, instead of killing the process before it cleans up."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def start_app(app: web.Application, host: str, port: int, backlog: int = 128) -> web.AppRunner:
    """Serve `app` on host:port (no access log, signals left to `stop_event`); clean up the runner to stop."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=backlog, reuse_address=True).start()
    return runner


async def serve_app(
    app: web.Application, host: str, port: int, banner: str, backlog: int = 128, ready: asyncio.Event | None = None
) -> None:
    """Serve `app`, print `banner` once it accepts, and serve until SIGTERM, SIGINT or cancellation."""
    runner = await start_app(app, host, port, backlog)
    try:
        stop = stop_event()
        print(banner, flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await runner.cleanup()
