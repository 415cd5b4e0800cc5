"""Google Secret Manager emulator: a real gRPC server for the real client.

Why: the function reads its Gemini key and gateway token from Secret
Manager and must cache them; tests need to prove that (access counts) and
exercise the failure modes (missing, denied, disabled) without Google
credentials. Messages are the proto-plus types shipped with
google-cloud-secret-manager, so no hand-written protos can drift.

Run: ``python -m emulators.secret_manager --port 8788 --seed projects/demo/secrets/gemini-api-key=VALUE``
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn

import grpc
from google.cloud.secretmanager_v1 import types

from emulators.serve import cli_parser

__all__ = [
    "SERVICE",
    "EmulatorState",
    "crc32c",
    "main",
    "serve",
    "serve_stats",
]

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"

_VERSION_NAME = re.compile(r"^projects/([^/]+)/secrets/([^/]+)/versions/([^/]+)$")
_SECRET_NAME = re.compile(r"^projects/([^/]+)/secrets/([^/]+)$")
_PROJECT_NAME = re.compile(r"^projects/([^/]+)$")
_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")

_ENABLED: int = types.SecretVersion.State.ENABLED
_DISABLED: int = types.SecretVersion.State.DISABLED


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli), as Secret Manager puts in data_crc32c; pure Python, fine for secrets."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@dataclass
class _Version:
    number: int
    data: bytes
    state: int  # a types.SecretVersion.State value
    created: float


@dataclass
class EmulatorState:
    """All secrets, the deny set and access counts; shared by gRPC threads, so locked."""

    secrets: dict[str, list[_Version]] = field(default_factory=dict)
    created: dict[str, float] = field(default_factory=dict)
    deny: set[str] = field(default_factory=set)
    access_count: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def seed(self, secret: str, value: bytes) -> int:
        """Create the secret if needed and add a version; returns its number."""
        if not _SECRET_NAME.match(secret):
            raise ValueError(f"not a secret name (projects/P/secrets/S): {secret!r}")
        with self.lock:
            self.created.setdefault(secret, time.time())
            versions = self.secrets.setdefault(secret, [])
            number = len(versions) + 1
            versions.append(_Version(number, value, _ENABLED, time.time()))
            return number

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"access_count": dict(self.access_count)}

    def reset_stats(self) -> None:
        with self.lock:
            self.access_count.clear()


def _timestamp(seconds: float) -> datetime:
    """proto-plus turns a datetime into google.protobuf.Timestamp."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("unreachable")  # context.abort raises


class _Servicer:
    """The six methods the project uses, with the real service's error semantics."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # -- name handling

    def _parse_version(
        self, name: str, context: grpc.ServicerContext, permission: str
    ) -> tuple[str, list[_Version], str]:
        match = _VERSION_NAME.match(name or "")
        if not match or not (match.group(3) == "latest" or (match.group(3).isdigit() and int(match.group(3)) > 0)):
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource field value in the request: {name!r}")
        secret = f"projects/{match.group(1)}/secrets/{match.group(2)}"
        if secret in self.state.deny:
            _abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"Permission '{permission}' denied for resource '{name}' (or it may not exist).",
            )
        versions = self.state.secrets.get(secret)
        if not versions:
            _abort(context, grpc.StatusCode.NOT_FOUND, f"Secret [{secret}] not found or has no versions.")
        return secret, versions, match.group(3)

    def _resolve(self, name: str, context: grpc.ServicerContext, permission: str) -> tuple[str, _Version]:
        secret, versions, wanted = self._parse_version(name, context, permission)
        if wanted == "latest":
            enabled = [v for v in versions if v.state == _ENABLED]
            if not enabled:
                _abort(
                    context,
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Secret [{secret}] has no enabled versions; the latest is in DISABLED state.",
                )
            return secret, enabled[-1]
        number = int(wanted)
        if number > len(versions):
            _abort(context, grpc.StatusCode.NOT_FOUND, f"Secret Version [{secret}/versions/{number}] not found.")
        return secret, versions[number - 1]

    @staticmethod
    def _version_message(secret: str, version: _Version) -> types.SecretVersion:
        return types.SecretVersion(
            name=f"{secret}/versions/{version.number}",
            create_time=_timestamp(version.created),
            state=version.state,
        )

    # -- methods

    def access_secret_version(
        self, request: types.AccessSecretVersionRequest, context: grpc.ServicerContext
    ) -> types.AccessSecretVersionResponse:
        match = _VERSION_NAME.match(request.name or "")
        with self.state.lock:
            if match:
                self.state.access_count[f"projects/{match.group(1)}/secrets/{match.group(2)}"] += 1
            secret, version = self._resolve(request.name, context, "secretmanager.versions.access")
            if version.state != _ENABLED:
                _abort(
                    context,
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Secret Version [{secret}/versions/{version.number}] is in DISABLED state.",
                )
            data = version.data
            number = version.number
        return types.AccessSecretVersionResponse(
            name=f"{secret}/versions/{number}",
            payload=types.SecretPayload(data=data, data_crc32c=crc32c(data)),
        )

    def get_secret_version(
        self, request: types.GetSecretVersionRequest, context: grpc.ServicerContext
    ) -> types.SecretVersion:
        with self.state.lock:
            secret, version = self._resolve(request.name, context, "secretmanager.versions.get")
            return self._version_message(secret, version)

    def _set_state(self, name: str, state: int, context: grpc.ServicerContext, permission: str) -> types.SecretVersion:
        with self.state.lock:
            secret, versions, wanted = self._parse_version(name, context, permission)
            if not wanted.isdigit():
                _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "A version number is required, not an alias.")
            if int(wanted) > len(versions):
                _abort(context, grpc.StatusCode.NOT_FOUND, f"Secret Version [{secret}/versions/{wanted}] not found.")
            version = versions[int(wanted) - 1]
            version.state = state
            return self._version_message(secret, version)

    def disable_secret_version(
        self, request: types.DisableSecretVersionRequest, context: grpc.ServicerContext
    ) -> types.SecretVersion:
        return self._set_state(request.name, _DISABLED, context, "secretmanager.versions.disable")

    def enable_secret_version(
        self, request: types.EnableSecretVersionRequest, context: grpc.ServicerContext
    ) -> types.SecretVersion:
        return self._set_state(request.name, _ENABLED, context, "secretmanager.versions.enable")

    def add_secret_version(
        self, request: types.AddSecretVersionRequest, context: grpc.ServicerContext
    ) -> types.SecretVersion:
        secret = request.parent
        if not _SECRET_NAME.match(secret or ""):
            _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource field value in the request: {secret!r}"
            )
        data = bytes(request.payload.data)
        if "data_crc32c" in request.payload and request.payload.data_crc32c != crc32c(data):
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "Checksum mismatch: data_crc32c does not match the data.")
        with self.state.lock:
            if secret in self.state.deny:
                _abort(
                    context,
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"Permission 'secretmanager.versions.add' denied for resource '{secret}' (or it may not exist).",
                )
            versions = self.state.secrets.get(secret)
            if versions is None:
                _abort(context, grpc.StatusCode.NOT_FOUND, f"Secret [{secret}] not found.")
            version = _Version(len(versions) + 1, data, _ENABLED, time.time())
            versions.append(version)
            return self._version_message(secret, version)

    def create_secret(self, request: types.CreateSecretRequest, context: grpc.ServicerContext) -> types.Secret:
        if not _PROJECT_NAME.match(request.parent or "") or not _SECRET_ID.match(request.secret_id or ""):
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "Invalid parent or secret_id in the request.")
        name = f"{request.parent}/secrets/{request.secret_id}"
        with self.state.lock:
            if name in self.state.deny:
                _abort(
                    context,
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"Permission 'secretmanager.secrets.create' denied for resource '{request.parent}' "
                    "(or it may not exist).",
                )
            if name in self.state.secrets:
                _abort(context, grpc.StatusCode.ALREADY_EXISTS, f"Secret [{name}] already exists.")
            self.state.secrets[name] = []
            self.state.created[name] = time.time()
            secret = types.Secret(request.secret)
            secret.name = name
            secret.create_time = _timestamp(self.state.created[name])
            if "replication" not in secret:
                secret.replication = types.Replication(automatic=types.Replication.Automatic())
            return secret


def _handler(
    method: Callable[[Any, grpc.ServicerContext], Any], request_type: Any, response_type: Any
) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(
        method,
        request_deserializer=request_type.deserialize,
        response_serializer=response_type.serialize,
    )


def _generic_handler(state: EmulatorState) -> grpc.GenericRpcHandler:
    servicer = _Servicer(state)
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "AccessSecretVersion": _handler(
                servicer.access_secret_version, types.AccessSecretVersionRequest, types.AccessSecretVersionResponse
            ),
            "GetSecretVersion": _handler(
                servicer.get_secret_version, types.GetSecretVersionRequest, types.SecretVersion
            ),
            "AddSecretVersion": _handler(
                servicer.add_secret_version, types.AddSecretVersionRequest, types.SecretVersion
            ),
            "CreateSecret": _handler(servicer.create_secret, types.CreateSecretRequest, types.Secret),
            "DisableSecretVersion": _handler(
                servicer.disable_secret_version, types.DisableSecretVersionRequest, types.SecretVersion
            ),
            "EnableSecretVersion": _handler(
                servicer.enable_secret_version, types.EnableSecretVersionRequest, types.SecretVersion
            ),
        },
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    seeds: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]] = (),
    deny: Iterable[str] = (),
    state: EmulatorState | None = None,
) -> tuple[grpc.Server, EmulatorState]:
    """Start the gRPC server (already serving) with seeded secrets; port 0 picks one (see `state.port`).

    Pass `state` to share it with something started earlier (the stats server).
    """
    state = state if state is not None else EmulatorState()
    state.deny.update(deny)
    items = seeds.items() if isinstance(seeds, Mapping) else seeds
    for secret, value in items:
        state.seed(secret, value.encode() if isinstance(value, str) else value)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((_generic_handler(state),))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind {host}:{port}")
    state.port = bound
    server.start()
    return server, state


def serve_stats(host: str, port: int, state: EmulatorState) -> ThreadingHTTPServer:
    """`GET /stats` and `POST /reset-stats` over plain HTTP, in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/stats":
                self._send(200, state.stats())
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path == "/reset-stats":
                state.reset_stats()
                self._send(200, {"ok": True})
            else:
                self._send(404, {"error": "not found"})

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: no per-request logging

    httpd = ThreadingHTTPServer((host, port), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name="secret-manager-stats", daemon=True).start()
    return httpd


def _parse_seed(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not _SECRET_NAME.match(name):
        raise argparse.ArgumentTypeError(f"expected projects/P/secrets/S=VALUE, got {text!r}")
    return name, value


def _parse_secret(text: str) -> str:
    if not _SECRET_NAME.match(text):
        raise argparse.ArgumentTypeError(f"expected projects/P/secrets/S, got {text!r}")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("emulators.secret_manager", __doc__)
    parser.add_argument("--seed", type=_parse_seed, action="append", default=[], help="projects/P/secrets/S=VALUE")
    parser.add_argument("--deny", type=_parse_secret, action="append", default=[], help="projects/P/secrets/S")
    parser.add_argument("--stats-port", type=int, default=None, help="serve GET /stats on this HTTP port")
    args = parser.parse_args(argv)

    # stats first: once the gRPC port accepts, tests may assume everything is up
    state = EmulatorState()
    httpd = serve_stats(args.host, args.stats_port, state) if args.stats_port else None
    server, state = serve(args.host, args.port, args.seed, args.deny, state=state)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"Secret Manager emulator listening on {args.host}:{args.port}", flush=True)
    stop.wait()
    if httpd is not None:
        httpd.shutdown()
    server.stop(grace=0.5).wait()


if __name__ == "__main__":
    main()
