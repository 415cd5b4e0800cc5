"""Firebase App Check stand-in: `verifyAppCheckToken` (replay protection) and the App Check JWKS.

Why: with replay protection the function verifies *and consumes* each App
Check token with Firebase (`POST {base}/projects/{project}:verifyAppCheckToken`,
body `{"appCheckToken": "..."}`); tests must show first use, replay and
"Firebase unreachable" over real sockets, without Google credentials.
Answers follow the REST reference: `{}` the first time a valid token is
seen, `{"alreadyConsumed": true}` after that, `403 PERMISSION_DENIED` for a
token that fails verification, Google's error JSON for everything else.
Tokens are verified like Firebase does (RS256 against the JWKS, issuer
`https://firebaseappcheck.googleapis.com/{project number}`, audience
`projects/{number or id}`, expiry). Keys: a key made at start (tokens from
`POST /__emulator/token`) plus any JWKS given (`--jwks-file`, `--jwks-url`,
`POST /__emulator/jwks`), e.g. the one tests/support/firebase_tokens.py signs with.

Run: ``python -m emulators.app_check --port 8791 --project 123456789012:my-firebase-app``
then ``APP_CHECK_VERIFY_URL=http://127.0.0.1:8791/v1beta``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import secrets
import time
import urllib.request
from collections import Counter, OrderedDict, deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web

from emulators.oidc import OidcKey
from emulators.serve import cli_parser, serve_app

__all__ = ["ISSUER_PREFIX", "EmulatorConfig", "EmulatorState", "create_app", "main"]

ISSUER_PREFIX = "https://firebaseappcheck.googleapis.com/"
CONSUMED_MAX = 100_000
"""Consumed tokens remembered (each until it expires; oldest forgotten beyond this)."""
REQUESTS_KEPT = 1000
_MAX_BODY = 64 * 1024
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_STATUS_MESSAGES = {
    429: "Quota exceeded for quota metric 'Verify App Check token requests'.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "The request timed out.",
}


@dataclass(frozen=True)
class EmulatorConfig:
    """Persistent behaviour: `delay` seconds before every answer, a forced `status`, or `drop` the connection."""

    delay: float = 0.0
    status: int | None = None
    drop: bool = False


@dataclass
class _Project:
    number: str
    project_id: str | None


@dataclass
class EmulatorState:
    projects: list[_Project] = field(default_factory=list)  # empty: any project
    initial_jwks: list[dict[str, Any]] = field(default_factory=list)
    initial: EmulatorConfig = field(default_factory=EmulatorConfig)
    own_key: OidcKey = field(default_factory=OidcKey.generate)

    def __post_init__(self) -> None:
        self.config = self.initial
        self.faults: deque[EmulatorConfig] = deque()
        self.jwks: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, Any] = {}
        self.consumed: OrderedDict[str, float] = OrderedDict()
        self.counters: Counter[str] = Counter()
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUESTS_KEPT)
        self.add_jwk(self.own_key.jwk())
        for jwk in self.initial_jwks:
            self.add_jwk(jwk)

    def add_jwk(self, jwk: dict[str, Any]) -> None:
        key = jwt.PyJWK(jwk, algorithm="RS256")
        kid = str(jwk.get("kid") or "")
        if not kid:
            raise ValueError("a JWK without kid")
        self.jwks[kid] = jwk
        self.keys[kid] = key.key

    def reset(self) -> None:
        """Forget consumed tokens, counts, faults and keys added since start; restore the command line's config."""
        self.__post_init__()

    def project(self, name: str) -> _Project | None:
        """The configured project the path names (by number or id); any project when none is configured."""
        for project in self.projects:
            if name in (project.number, project.project_id):
                return project
        if self.projects:
            return None
        return _Project(name, None) if name.isdigit() else _Project("", name)

    def next_behaviour(self) -> EmulatorConfig:
        return self.faults.popleft() if self.faults else self.config

    def consume(self, token: str, expires: float) -> bool:
        """Mark consumed; True when it already was."""
        now = time.time()
        while self.consumed:
            oldest, until = next(iter(self.consumed.items()))
            if until > now and len(self.consumed) < CONSUMED_MAX:
                break
            del self.consumed[oldest]
        digest = hashlib.sha256(token.encode()).hexdigest()
        if digest in self.consumed:
            return True
        self.consumed[digest] = expires
        return False

    def stats(self) -> dict[str, Any]:
        return {
            "calls": self.counters["calls"],
            "outcomes": {k: v for k, v in self.counters.items() if k not in ("calls", "with_authorization")},
            "with_authorization": self.counters["with_authorization"],
            "consumed": len(self.consumed),
        }


_STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("app_check_state")


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def google_error(status: int, message: str | None = None) -> web.Response:
    """Google's JSON error body: `{"error": {"code", "message", "status"}}`."""
    name = _STATUS_NAMES.get(status, "UNKNOWN")
    body = {"error": {"code": status, "message": message or _STATUS_MESSAGES.get(status, name), "status": name}}
    return web.json_response(body, status=status)


def _verify(state: EmulatorState, project: _Project, token: str) -> dict[str, Any]:
    """The token's claims if Firebase would accept it for `project`; raises _Refused otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _Refused(400, "Request contains an invalid argument.") from None
    key = state.keys.get(str(header.get("kid") or ""))
    if header.get("alg") != "RS256" or header.get("typ") != "JWT" or key is None:
        raise _Refused(403, "App Check token is invalid.")
    audiences = [f"projects/{p}" for p in (project.number, project.project_id) if p]
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=audiences,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError:
        raise _Refused(403, "App Check token is invalid.") from None
    issuer = str(claims.get("iss", ""))
    if project.number:
        issuer_ok = issuer == ISSUER_PREFIX + project.number
    else:
        issuer_ok = issuer.startswith(ISSUER_PREFIX) and issuer[len(ISSUER_PREFIX) :].isdigit()
    if not issuer_ok or not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise _Refused(403, "App Check token is invalid.")
    return claims


async def _verify_handler(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE_KEY]
    state.counters["calls"] += 1
    record: dict[str, Any] = {
        "time": time.time(),
        "project": request.match_info["project"],
        "authorization": "authorization" in request.headers,
    }
    state.requests.append(record)
    if record["authorization"]:
        state.counters["with_authorization"] += 1
    behaviour = state.next_behaviour()
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raw = b"x" * (_MAX_BODY + 1)  # refused below, after any configured delay or fault
    except ConnectionError:
        raw = b""
    if behaviour.delay > 0:
        await asyncio.sleep(behaviour.delay)
    if behaviour.drop:
        record["outcome"] = "dropped"
        state.counters["fault"] += 1
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=503)  # never reaches the caller: the connection is gone
    if behaviour.status is not None:
        record["outcome"] = record["status"] = behaviour.status
        state.counters["fault"] += 1
        return google_error(behaviour.status)
    try:
        response = _answer(state, request.match_info["project"], raw)
    except _Refused as refused:
        record["status"] = refused.status
        record["outcome"] = "invalid" if refused.status == 400 else "forbidden"
        state.counters[record["outcome"]] += 1
        return google_error(refused.status, refused.message)
    record["status"] = 200
    record["outcome"] = "replayed" if response.get("alreadyConsumed") else "ok"
    record["app_id"] = response.pop("_app_id")
    state.counters[record["outcome"]] += 1
    return web.json_response(response)


def _answer(state: EmulatorState, project_name: str, raw: bytes) -> dict[str, Any]:
    project = state.project(project_name)
    if project is None:
        raise _Refused(403, f"Permission denied on resource project {project_name}.")
    if len(raw) > _MAX_BODY:
        raise _Refused(400, "Request payload size exceeds the limit.")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise _Refused(400, "Invalid JSON payload received.") from None
    token = body.get("appCheckToken") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise _Refused(400, "Request contains an invalid argument.")
    claims = _verify(state, project, token)
    already = state.consume(token, float(claims["exp"]))
    answer: dict[str, Any] = {"alreadyConsumed": True} if already else {}
    answer["_app_id"] = claims["sub"]
    return answer


# --------------------------------------------------------------------------- JWKS and control


async def _jwks(request: web.Request) -> web.Response:
    state = request.app[_STATE_KEY]
    return web.json_response(
        {"keys": list(state.jwks.values())}, headers={"Cache-Control": "public, max-age=21600, must-revalidate"}
    )


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body is not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


def _behaviour(body: dict[str, Any], base: EmulatorConfig) -> EmulatorConfig:
    changes: dict[str, Any] = {}
    if "delay" in body:
        changes["delay"] = max(0.0, float(body["delay"] or 0))
    if "status" in body:
        changes["status"] = None if body["status"] is None else int(body["status"])
    if "drop" in body:
        changes["drop"] = bool(body["drop"])
    return replace(base, **changes)


async def _config(request: web.Request) -> web.Response:
    state = request.app[_STATE_KEY]
    if request.method == "POST":
        try:
            state.config = _behaviour(await _json_body(request), state.config)
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(asdict(state.config))


async def _faults(request: web.Request) -> web.Response:
    """`{"faults": [{delay?, status?, drop?}, ...]}`: each verify call takes the next one, then the config applies."""
    state = request.app[_STATE_KEY]
    if request.method == "POST":
        faults = (await _json_body(request)).get("faults")
        if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
            raise web.HTTPBadRequest(text="faults must be a list of objects")
        try:
            state.faults.extend(_behaviour(f, EmulatorConfig()) for f in faults)
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
    elif request.method == "DELETE":
        state.faults.clear()
    return web.json_response({"faults": [asdict(f) for f in state.faults]})


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATE_KEY].stats())


async def _requests(request: web.Request) -> web.Response:
    return web.json_response({"requests": list(request.app[_STATE_KEY].requests)})


async def _reset(request: web.Request) -> web.Response:
    request.app[_STATE_KEY].reset()
    return web.json_response({"ok": True})


async def _add_jwks(request: web.Request) -> web.Response:
    state = request.app[_STATE_KEY]
    keys = (await _json_body(request)).get("keys")
    if not isinstance(keys, list):
        raise web.HTTPBadRequest(text='expected a JWKS: {"keys": [...]}')
    try:
        for jwk in keys:
            state.add_jwk(jwk)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise web.HTTPBadRequest(text=f"bad JWK: {exc}") from None
    return web.json_response({"kids": sorted(state.jwks)})


async def _mint(request: web.Request) -> web.Response:
    """`{"app_id", "project"?, "ttl"?, "claims"?}` → `{"token"}`, signed with the stand-in's own key."""
    state = request.app[_STATE_KEY]
    body = await _json_body(request)
    app_id = body.get("app_id")
    ttl = body.get("ttl", 3600)
    extra = body.get("claims") or {}
    if not isinstance(app_id, str) or not isinstance(ttl, int) or not isinstance(extra, dict):
        raise web.HTTPBadRequest(text="app_id (string), ttl (integer) and claims (object) expected")
    default = state.projects[0] if state.projects else _Project("123456789012", "demo-project")
    project = state.project(str(body.get("project") or default.number)) or default
    number = project.number or default.number
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": app_id,
        "aud": [f"projects/{p}" for p in (number, project.project_id) if p],
        "provider": "debug",
        "iss": ISSUER_PREFIX + number,
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(16),
    }
    claims.update(extra)
    claims = {k: v for k, v in claims.items() if v is not None}
    key = state.own_key
    token = jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})
    return web.json_response({"token": token, "claims": claims})


async def _not_found(request: web.Request) -> web.Response:
    return google_error(404, f"The requested URL {request.path} was not found on this server.")


def create_app(state: EmulatorState | None = None) -> web.Application:
    app = web.Application(client_max_size=_MAX_BODY)
    app[_STATE_KEY] = state if state is not None else EmulatorState()
    router = app.router
    for version in ("v1beta", "v1"):
        router.add_post(f"/{version}/projects/{{project:[^/:]+}}:verifyAppCheckToken", _verify_handler)
        router.add_get(f"/{version}/jwks", _jwks)
    router.add_route("*", "/__emulator/config", _config)
    router.add_route("*", "/__emulator/faults", _faults)
    router.add_get("/__emulator/stats", _stats)
    router.add_get("/__emulator/requests", _requests)
    router.add_post("/__emulator/reset", _reset)
    router.add_post("/__emulator/jwks", _add_jwks)
    router.add_post("/__emulator/token", _mint)
    router.add_route("*", "/{tail:.*}", _not_found)
    return app


# --------------------------------------------------------------------------- CLI


def _parse_project(text: str) -> _Project:
    number, _, project_id = text.partition(":")
    if not number.isdigit():
        raise argparse.ArgumentTypeError(f"expected PROJECT_NUMBER[:PROJECT_ID], got {text!r}")
    return _Project(number, project_id or None)


def _load_jwks(files: list[str], urls: list[str]) -> list[dict[str, Any]]:
    documents = [json.loads(Path(f).read_text()) for f in files]
    for url in urls:
        with urllib.request.urlopen(url, timeout=10) as response:
            documents.append(json.loads(response.read()))
    return [jwk for document in documents for jwk in document.get("keys", [])]


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("emulators.app_check", __doc__)
    parser.add_argument(
        "--project", type=_parse_project, action="append", default=[], help="NUMBER[:ID]; none: any project"
    )
    parser.add_argument("--jwks-file", action="append", default=[], help="a JWKS file whose keys sign valid tokens")
    parser.add_argument("--jwks-url", action="append", default=[], help="a JWKS URL, fetched once at start")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every verify answer")
    parser.add_argument("--fail-status", type=int, default=None, help="answer every verify call with this status")
    args = parser.parse_args(argv)
    state = EmulatorState(
        projects=args.project,
        initial_jwks=_load_jwks(args.jwks_file, args.jwks_url),
        initial=EmulatorConfig(delay=max(0.0, args.delay), status=args.fail_status),
    )
    url = f"http://{args.host}:{args.port}"
    banner = f"App Check emulator listening on {url} (verify base: {url}/v1beta)"
    asyncio.run(serve_app(create_app(state), args.host, args.port, banner))


if __name__ == "__main__":
    main()
