"""Jobs without a server: state transitions, the stores, callback URL rules, backoff, the settings' rules."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.datastructures import Headers

from gemini_gateway.callback_urls import callback_url_problem, canonical
from gemini_gateway.errors import Unavailable
from gemini_gateway.jobs.admission import wants_async
from gemini_gateway.jobs.delivery import backoff, payload
from gemini_gateway.jobs.records import LEASE_SECONDS, Job, new_job_id, valid_job_id
from gemini_gateway.jobs.store import MemoryJobs, RedisJobs
from gemini_gateway.runtime import configuration_problems
from tests.support.jobs import CALLBACK_SECRET, RedisServer, start_redis


def job(**changes: Any) -> Job:
    fields: dict[str, Any] = {
        "id": new_job_id(),
        "caller": "ios",
        "created": 1_800_000_000,
        "path": "/",
        "content_type": "application/json",
        "submitted_by": "r1",
    }
    fields.update(changes)
    return Job(**fields)


# --------------------------------------------------------------------------- records


def test_job_ids() -> None:
    one = new_job_id()
    assert valid_job_id(one) and one != new_job_id()
    for bad in ("job_", "job_" + "g" * 32, "JOB_" + "0" * 32, "job_" + "0" * 31, "../" + "0" * 33):
        assert not valid_job_id(bad)


def test_run_claim_lease_and_finish() -> None:
    queued = job(callback="https://hooks.example.com/x")
    running = queued.claim_run("t1", now=100.0)
    assert running is not None and running.status == "running" and running.runs == 1
    assert running.lease_until == 100.0 + LEASE_SECONDS
    assert running.claim_run("t2", now=101.0) is None, "held while its lease runs"
    taken = running.claim_run("t2", now=100.0 + LEASE_SECONDS + 0.1)
    assert taken is not None and taken.runner == "t2" and taken.runs == 2, "a lost run is taken over"
    assert taken.finish("t1", {"text": "late"}, None, now=200.0) is None, "a run that lost its lease cannot finish"
    assert taken.renew("t1", now=150.0) is None and taken.renew("t2", now=150.0) is not None
    ended = taken.finish("t2", {"text": "hi"}, None, now=200.0)
    assert ended is not None and ended.status == "succeeded" and ended.finished == 200
    assert ended.delivery == "pending"
    assert ended.claim_run("t3", now=10_000.0) is None, "an ended job never runs again"
    assert ended.finish("t2", None, {"type": "x"}, now=300.0) is None


def test_release_puts_it_back_in_the_queue() -> None:
    running = job().claim_run("t", now=0.0)
    assert running is not None
    released = running.release("t")
    assert released is not None and released.status == "queued" and released.claim_run("u", now=1.0) is not None
    assert running.release("other") is None


def test_delivery_attempts() -> None:
    ended = job(callback="https://h.example.com/", status="succeeded", delivery="pending")
    first = ended.attempted(1, "retry", max_attempts=3)
    assert first is not None and first.delivery == "pending" and first.delivery_attempts == 1
    last = first.attempted(3, "retry", max_attempts=3)
    assert last is not None and last.delivery == "failed"
    assert last.attempted(4, "delivered", max_attempts=3) is None, "settled"
    gone = ended.attempted(1, "gone", 3)
    assert gone is not None and gone.delivery == "gone"
    refused = ended.attempted(1, "refused", 3)
    assert refused is not None and refused.delivery == "failed"


def test_public_object_and_storage_round_trip() -> None:
    ended = job(
        status="failed", finished=1_800_000_001, error={"type": "upstream_error"}, callback="https://h.example.com/"
    )
    assert Job.loads(ended.dumps()) == ended
    assert Job.loads(ended.dumps()[:-1] + b',"added_later":1}') == ended, "fields a newer version adds are ignored"
    public = ended.public()
    assert public == {
        "id": ended.id,
        "status": "failed",
        "created": 1_800_000_000,
        "status_url": f"/v1/jobs/{ended.id}",
        "finished": 1_800_000_001,
        "error": {"type": "upstream_error"},
    }
    assert "caller" not in public and "callback" not in public


def test_delivery_payload() -> None:
    ended = job(status="succeeded", finished=1_800_000_000, result={"text": "hi"})
    body = orjson.loads(payload(ended))
    assert body == {"type": "job.succeeded", "timestamp": "2027-01-15T08:00:00Z", "data": ended.public()}


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    assert backoff(2, rng=lambda: 0.0) == 0.5 and backoff(2, rng=lambda: 1.0) == 1.0
    assert backoff(3, rng=lambda: 1.0) == 4.0 and backoff(4, rng=lambda: 1.0) == 16.0
    assert backoff(30, rng=lambda: 1.0) == 3600.0
    spread = {round(backoff(5), 3) for _ in range(50)}
    assert len(spread) > 10 and all(32 <= s <= 64 for s in spread)


# --------------------------------------------------------------------------- Prefer


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((), False),
        (("respond-async",), True),
        (("Respond-Async",), True),
        (("wait=10, respond-async",), True),
        (("respond-async; foo=bar",), True),
        (("handling=lenient", "respond-async"), True),
        (("respond-asynchronously",), False),
        (("return=minimal",), False),
    ],
)
def test_prefer(values: tuple[str, ...], expected: bool) -> None:
    raw = [(b"prefer", v.encode()) for v in values]
    assert wants_async(Headers(raw=raw)) is expected


# --------------------------------------------------------------------------- callback URLs

PREFIXES = ("https://hooks.example.com/gemini/", "https://api.example.org", "http://127.0.0.1:9000/cb/")


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/gemini/done",
        "https://hooks.example.com/gemini/",
        "https://hooks.example.com/gemini",  # the prefix's own path, without its slash
        "https://hooks.example.com:443/gemini/x?order=1&sig=abc",
        "https://HOOKS.example.com/gemini/x",
        "https://api.example.org/",
        "https://api.example.org",
        "https://api.example.org/anything/at/all",
        "http://127.0.0.1:9000/cb/x",
    ],
)
def test_allowed_callback_urls(url: str) -> None:
    assert callback_url_problem(url, PREFIXES) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token",
        "http://metadata.google.internal/",
        "http://10.0.0.5/",
        "http://hooks.example.com/gemini/x",  # http where the prefix says https
        "https://hooks.example.com/other/",
        "https://hooks.example.com/gemini-evil/x",  # below the prefix segment by segment, not by characters
        "https://hooks.example.com/",
        "https://hooks.example.com:8443/gemini/x",
        "https://hooks.example.com@evil.example/gemini/x",
        "https://user:pass@hooks.example.com/gemini/x",
        "https://hooks.example.com.evil.example/gemini/x",
        "https://evil.example/https://hooks.example.com/gemini/",
        "https://hooks.example.com\\@evil.example/gemini/",
        "https://hooks.example.com/gemini/../admin",
        "https://hooks.example.com/gemini/%2e%2e/admin",
        "https://hooks.example.com/gemini/%2E%2E%2Fadmin",
        "https://hooks.example.com/gemini/x#frag",
        "https://hooks.example.com/gemini/ x",
        "https://hooks.example.com/gemini/\u00e9",
        "https://hooks.example.com:99999/gemini/",
        "https://hooks.example.com:0x1bb/gemini/",
        "http://127.0.0.1:9001/cb/",
        "http://127.1:9000/cb/",
        "http://2130706433:9000/cb/",
        "http://localhost:9000/cb/",
        "http://hooks.example.com:9000/cb/",  # plain http only to this machine
        "ftp://hooks.example.com/gemini/",
        "//hooks.example.com/gemini/",
        "",
    ],
)
def test_refused_callback_urls(url: str) -> None:
    assert callback_url_problem(url, PREFIXES) is not None


def test_no_prefixes_no_callbacks() -> None:
    why = callback_url_problem("https://hooks.example.com/gemini/", ())
    assert why is not None and "CALLBACK_URL_PREFIXES" in why


def test_the_url_called_is_rebuilt_from_what_was_checked() -> None:
    assert canonical("https://HOOKS.example.com:443/gemini/x?a=1") == "https://hooks.example.com/gemini/x?a=1"
    assert canonical("http://127.0.0.1:9000/cb/") == "http://127.0.0.1:9000/cb/"
    with pytest.raises(ValueError):
        canonical("https://a@b.example/")


# --------------------------------------------------------------------------- settings

BASE = {
    "CLOUDFLARE_ACCOUNT_ID": "a",
    "AI_GATEWAY_ID": "g",
    "GEMINI_API_KEY": "test-key",
    "ALLOW_UNAUTHENTICATED": "true",
}


def problems(**env: str) -> dict[str, str]:
    return dict(configuration_problems({**BASE, **env}))


def test_settings_rules() -> None:
    assert problems() == {}
    assert "JOBS_QUEUE" in problems(
        JOBS_QUEUE="projects/p/locations/l/queues/q", JOBS_SERVICE_ACCOUNT="a@b.c", JOBS_URL="https://f.example.com"
    )
    assert "CALLBACK_SIGNING_SECRET_SECRET" in problems(CALLBACK_URL_PREFIXES="https://h.example.com/")
    assert problems(CALLBACK_URL_PREFIXES="https://h.example.com/", CALLBACK_SIGNING_SECRET=CALLBACK_SECRET) == {}
    for bad in ("whsec_short", "not-a-secret", "whsec_" + base64.b64encode(b"x" * 100).decode(), CALLBACK_SECRET[6:]):
        assert "CALLBACK_SIGNING_SECRET" in problems(CALLBACK_SIGNING_SECRET=bad), bad
    for prefix in (
        "http://example.com/",
        "https://a@b.example/",
        "https://h.example.com/x#y",
        "https://h.example.com/../",
    ):
        assert "CALLBACK_URL_PREFIXES" in problems(
            CALLBACK_URL_PREFIXES=prefix, CALLBACK_SIGNING_SECRET=CALLBACK_SECRET
        ), prefix


# --------------------------------------------------------------------------- stores


def test_memory_jobs_compare_and_set_and_bounds() -> None:
    store = MemoryJobs(ttl=60, max_jobs=3, max_body_bytes=100)

    async def scenario() -> None:
        first = job()
        await store.create(first, b"x" * 40)
        now, changed = await store.update(first.id, lambda j: j.claim_run("t", 0.0))
        assert changed and now is not None and now.status == "running"
        now, changed = await store.update(first.id, lambda j: j.claim_run("u", 1.0))
        assert not changed and now is not None and now.runner == "t"
        assert await store.body(first.id) == b"x" * 40
        await store.update(first.id, lambda j: j.finish("t", {"ok": True}, None, 2.0))
        assert await store.body(first.id) is None, "the body goes when the job ends"
        await store.create(job(), b"y" * 60)
        with pytest.raises(Unavailable):
            await store.create(job(), b"z" * 60)  # bodies waiting on this instance are bounded
        for _ in range(5):
            await store.create(job(), b"")
        assert len(store._jobs) == 3
        assert await store.get(first.id) is None, "the oldest is forgotten"

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def test_redis_jobs_one_winner_among_racing_instances(redis: RedisServer) -> None:
    from gemini_gateway.callers.redis_state import redis_client

    async def scenario() -> None:
        stores = [RedisJobs(redis_client(redis.url), ttl=60) for _ in range(4)]
        queued = job()
        await stores[0].create(queued, b'{"prompt": "hi"}')
        outcomes = await asyncio.gather(
            *(stores[i % 4].update(queued.id, lambda j, i=i: j.claim_run(f"t{i}", 0.0)) for i in range(20))
        )
        assert [changed for _, changed in outcomes].count(True) == 1
        holder = next(j for j, changed in outcomes if changed)
        assert holder is not None
        assert await stores[2].body(queued.id) == b'{"prompt": "hi"}'
        ended, changed = await stores[3].update(queued.id, lambda j: j.finish(holder.runner, {"text": "hi"}, None, 5.0))
        assert changed and ended is not None and ended.status == "succeeded"
        assert await stores[1].body(queued.id) is None
        assert (await stores[1].get(queued.id)) == ended
        assert await stores[0].get(new_job_id()) is None
        for s in stores:
            await s.aclose()

    asyncio.run(scenario())
