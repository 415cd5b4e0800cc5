"""The Cloud Tasks emulator answers the real google-cloud-tasks client and dispatches like Cloud Tasks.

Why: the function's jobs (docs/API.md §12) are tested against this
emulator, so names, de-duplication, OIDC tokens, dispatch headers and the
retry schedule must be what Google does; the token is checked here with
google-auth exactly as the function will check it.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Iterator

import grpc
import jwt
import pytest
from google.api_core import exceptions
from google.auth.transport import requests as google_requests
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import (
    CloudTasksGrpcAsyncIOTransport,
    CloudTasksGrpcTransport,
)
from google.oauth2 import id_token

from emulators.cloud_tasks import RetryPolicy
from tests.emulators.conftest import QUEUE, TASKS_DEADLINE, TASKS_MAX_ATTEMPTS
from tests.support.firebase_tokens import signing_key
from tests.support.jobs import CloudTasks, Receiver

__all__: list[str] = []

ACCOUNT = "jobs-invoker@demo.iam.gserviceaccount.com"


@pytest.fixture
def client(cloud_tasks: CloudTasks) -> Iterator[tasks_v2.CloudTasksClient]:
    """The wiring the function uses when CLOUD_TASKS_EMULATOR_HOST is set: plain gRPC, no credentials."""
    channel = grpc.insecure_channel(cloud_tasks.host)
    yield tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    channel.close()


def _http_task(url: str, name: str | None = None, audience: str = "", **fields: object) -> tasks_v2.Task:
    request = tasks_v2.HttpRequest(
        url=url,
        http_method=tasks_v2.HttpMethod.POST,
        headers={"Content-Type": "application/json", "X-Job": "yes"},
        body=b'{"job": "test"}',
        oidc_token=tasks_v2.OidcToken(service_account_email=ACCOUNT, audience=audience),
    )
    return tasks_v2.Task(name=f"{QUEUE}/tasks/{name}" if name else "", http_request=request, **fields)


def _verify(token: str, audience: str, certs_url: str) -> dict[str, object]:
    return dict(id_token.verify_token(token, google_requests.Request(), audience=audience, certs_url=certs_url))


def test_ready_line(cloud_tasks: CloudTasks) -> None:
    output = cloud_tasks.server.output()
    assert f"Cloud Tasks emulator listening on {cloud_tasks.host}" in output
    assert cloud_tasks.certs_url in output


def test_queues(client: tasks_v2.CloudTasksClient) -> None:
    queue = client.get_queue(name=QUEUE)
    assert queue.state == tasks_v2.Queue.State.RUNNING
    assert queue.retry_config.max_attempts == TASKS_MAX_ATTEMPTS  # the command line's defaults filled in
    parent = "projects/demo/locations/us-central1"
    created = client.create_queue(
        parent=parent,
        queue=tasks_v2.Queue(name=f"{parent}/queues/other", retry_config=tasks_v2.RetryConfig(max_attempts=2)),
    )
    assert created.retry_config.max_attempts == 2
    assert created.retry_config.max_doublings == 2
    assert sorted(q.name for q in client.list_queues(parent=parent)) == [f"{parent}/queues/jobs", created.name]
    with pytest.raises(exceptions.AlreadyExists):
        client.create_queue(parent=parent, queue=tasks_v2.Queue(name=created.name))
    with pytest.raises(exceptions.NotFound):
        client.get_queue(name=f"{parent}/queues/missing")
    with pytest.raises(exceptions.InvalidArgument):
        client.create_queue(parent=parent, queue=tasks_v2.Queue(name="projects/demo/locations/elsewhere/queues/x"))


def test_task_is_dispatched_with_a_google_style_oidc_token(
    client: tasks_v2.CloudTasksClient, cloud_tasks: CloudTasks, receiver: Receiver
) -> None:
    url = f"{receiver.url}/internal/jobs/job_1"
    task = client.create_task(parent=QUEUE, task=_http_task(url, "job_1"))
    assert task.name == f"{QUEUE}/tasks/job_1"
    assert task.view == tasks_v2.Task.View.BASIC and task.http_request.body == b""
    assert task.dispatch_deadline == datetime.timedelta(seconds=600)
    done = cloud_tasks.wait(task.name)["tasks"][0]
    assert done["state"] == "succeeded" and done["dispatch_count"] == 1 and done["last_status"] == 200

    [request] = receiver.received
    assert (request["method"], request["path"], request["body"]) == ("POST", "/internal/jobs/job_1", b'{"job": "test"}')
    headers = request["headers"]
    assert headers["content-type"] == "application/json" and headers["x-job"] == "yes"
    assert headers["user-agent"] == "Google-Cloud-Tasks"
    assert headers["x-cloudtasks-queuename"] == "jobs"
    assert headers["x-cloudtasks-taskname"] == "job_1"
    assert headers["x-cloudtasks-taskretrycount"] == "0"
    assert headers["x-cloudtasks-taskexecutioncount"] == "0"
    assert abs(float(headers["x-cloudtasks-tasketa"]) - task.schedule_time.timestamp()) < 0.001
    assert "x-cloudtasks-taskpreviousresponse" not in headers

    scheme, token = headers["authorization"].split(" ")
    assert scheme == "Bearer"
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = _verify(token, url, cloud_tasks.certs_url)
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["aud"] == url  # no audience given: the URL
    assert claims["email"] == ACCOUNT and claims["email_verified"] is True
    assert claims["sub"] == claims["azp"] and str(claims["sub"]).isdigit()
    assert int(str(claims["exp"])) - int(str(claims["iat"])) == 3600

    with pytest.raises(exceptions.NotFound):  # a completed task is gone, as on Cloud Tasks
        client.get_task(name=task.name)


def test_audience_and_foreign_tokens(
    client: tasks_v2.CloudTasksClient, cloud_tasks: CloudTasks, receiver: Receiver
) -> None:
    url = f"{receiver.url}/internal/jobs/job_2"
    task = client.create_task(parent=QUEUE, task=_http_task(url, audience="https://jobs.example.test"))
    cloud_tasks.wait(task.name)
    token = receiver.received[0]["headers"]["authorization"].split(" ")[1]
    assert _verify(token, "https://jobs.example.test", cloud_tasks.certs_url)["aud"] == "https://jobs.example.test"
    with pytest.raises(ValueError, match="audience"):
        _verify(token, url, cloud_tasks.certs_url)

    # same claims and the emulator's kid, but signed by a key the certs do not hold
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = signing_key("not-the-emulator").sign(claims, kid=header["kid"])
    with pytest.raises(ValueError, match="signature"):
        _verify(forged, "https://jobs.example.test", cloud_tasks.certs_url)
    unknown_kid = signing_key("not-the-emulator").sign(claims)
    with pytest.raises(ValueError, match="not-the-emulator"):
        _verify(unknown_kid, "https://jobs.example.test", cloud_tasks.certs_url)

    # the control API mints tokens with the same key for the function's negative tests
    minted = cloud_tasks.mint("https://other.example.test", "someone@demo.iam.gserviceaccount.com")
    assert _verify(minted, "https://other.example.test", cloud_tasks.certs_url)["email"].startswith("someone@")
    expired = cloud_tasks.mint(url, ACCOUNT, claims={"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600})
    with pytest.raises(ValueError, match="expired"):
        _verify(expired, url, cloud_tasks.certs_url)


def test_duplicate_names_are_refused_while_queued_and_after_completion(
    client: tasks_v2.CloudTasksClient, cloud_tasks: CloudTasks, receiver: Receiver
) -> None:
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30)
    queued = client.create_task(parent=QUEUE, task=_http_task(receiver.url, "queued", schedule_time=later))
    with pytest.raises(exceptions.AlreadyExists):
        client.create_task(parent=QUEUE, task=_http_task(receiver.url, "queued"))

    finished = client.create_task(parent=QUEUE, task=_http_task(receiver.url, "finished"))
    cloud_tasks.wait(finished.name)
    with pytest.raises(exceptions.AlreadyExists):
        client.create_task(parent=QUEUE, task=_http_task(receiver.url, "finished"))

    client.delete_task(name=queued.name)
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=queued.name)
    with pytest.raises(exceptions.AlreadyExists):
        client.create_task(parent=QUEUE, task=_http_task(receiver.url, "queued"))
    assert cloud_tasks.stats()["already_exists"] == 3
    assert len(receiver.received) == 1  # the deleted task never ran

    first = client.create_task(parent=QUEUE, task=_http_task(receiver.url))
    second = client.create_task(parent=QUEUE, task=_http_task(receiver.url))
    assert first.name != second.name
    assert first.name.startswith(f"{QUEUE}/tasks/") and first.name.rsplit("/", 1)[1].isdigit()


def test_retries_on_500_with_backoff_until_success(
    client: tasks_v2.CloudTasksClient, cloud_tasks: CloudTasks, receiver: Receiver
) -> None:
    receiver.script = [500, 503, 200]
    task = client.create_task(parent=QUEUE, task=_http_task(receiver.url, "flaky"))
    done = cloud_tasks.wait(task.name)["tasks"][0]
    assert done["state"] == "succeeded"
    assert [a["status"] for a in done["attempts"]] == [500, 503, 200]
    headers = [r["headers"] for r in receiver.received]
    assert [h["x-cloudtasks-taskretrycount"] for h in headers] == ["0", "1", "2"]
    assert [h.get("x-cloudtasks-taskpreviousresponse") for h in headers] == [None, "500", "503"]
    assert [h["x-cloudtasks-taskexecutioncount"] for h in headers] == ["0", "0", "0"]  # 5xx are not executions
    gaps = [b["time"] - a["time"] for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # min_backoff, then doubled


def test_gives_up_after_max_attempts(
    client: tasks_v2.CloudTasksClient, cloud_tasks: CloudTasks, receiver: Receiver
) -> None:
    receiver.script = [500] * 10
    task = client.create_task(parent=QUEUE, task=_http_task(receiver.url, "doomed"))
    done = cloud_tasks.wait(task.name)["tasks"][0]
    assert done["state"] == "failed" and done["dispatch_count"] == TASKS_MAX_ATTEMPTS
    assert len(receiver.received) == TASKS_MAX_ATTEMPTS
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)

    parent = "projects/demo/locations/us-central1"
    short = client.create_queue(
        parent=parent,
        queue=tasks_v2.Queue(
            name=f"{parent}/queues/short",
            retry_config=tasks_v2.RetryConfig(max_attempts=2, min_backoff=datetime.timedelta(seconds=0.01)),
        ),
    )
    receiver.received.clear()
    receiver.script = [404] * 10
    task = client.create_task(parent=short.name, task=_http_task(receiver.url))
    done = cloud_tasks.wait(task.name)["tasks"][0]
    assert [a["status"] for a in done["attempts"]] == [404, 404]
    assert [r["headers"]["x-cloudtasks-taskexecutioncount"] for r in receiver.received] == ["0", "1"]


def test_no_answer_within_the_dispatch_deadline_is_retried(
    client: tasks_v2.CloudTasksClient, cloud_tasks: CloudTasks, receiver: Receiver
) -> None:
    receiver.script = [(TASKS_DEADLINE + 0.5, 200), 200]
    task = client.create_task(parent=QUEUE, task=_http_task(receiver.url, "slow"))
    done = cloud_tasks.wait(task.name)["tasks"][0]
    assert [(a["status"], a["error"]) for a in done["attempts"]] == [(None, "DEADLINE_EXCEEDED"), (200, None)]


def test_schedule_time_run_task_and_listing(
    client: tasks_v2.CloudTasksClient, cloud_tasks: CloudTasks, receiver: Receiver
) -> None:
    eta = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=0.6)
    task = client.create_task(parent=QUEUE, task=_http_task(receiver.url, "later", schedule_time=eta))
    assert abs(task.schedule_time.timestamp() - eta.timestamp()) < 0.001
    listed = list(client.list_tasks(request=tasks_v2.ListTasksRequest(parent=QUEUE, response_view="FULL")))
    assert [t.name for t in listed] == [task.name] and listed[0].http_request.body == b'{"job": "test"}'
    assert client.get_task(name=task.name).dispatch_count == 0
    cloud_tasks.wait(task.name)
    assert receiver.received[0]["time"] >= eta.timestamp()

    far = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    parked = client.create_task(parent=QUEUE, task=_http_task(receiver.url, "parked", schedule_time=far))
    client.run_task(name=parked.name)
    cloud_tasks.wait(parked.name)
    assert len(receiver.received) == 2

    many = [client.create_task(parent=QUEUE, task=_http_task(receiver.url, schedule_time=far)) for _ in range(3)]
    pager = client.list_tasks(request=tasks_v2.ListTasksRequest(parent=QUEUE, page_size=2))
    assert sorted(t.name for t in pager) == sorted(t.name for t in many)


def test_invalid_tasks_are_refused(client: tasks_v2.CloudTasksClient, receiver: Receiver) -> None:
    with pytest.raises(exceptions.NotFound):
        client.create_task(parent="projects/demo/locations/us-central1/queues/missing", task=_http_task(receiver.url))
    with pytest.raises(exceptions.InvalidArgument, match="loopback"):
        client.create_task(parent=QUEUE, task=_http_task("https://example.com/x"))
    with pytest.raises(exceptions.InvalidArgument):
        client.create_task(parent=QUEUE, task=_http_task("ftp://127.0.0.1/x"))
    with pytest.raises(exceptions.InvalidArgument, match="dispatch_deadline"):
        client.create_task(parent=QUEUE, task=_http_task(receiver.url, dispatch_deadline=datetime.timedelta(seconds=5)))
    get_with_body = tasks_v2.Task(
        http_request=tasks_v2.HttpRequest(url=receiver.url, http_method=tasks_v2.HttpMethod.GET, body=b"x")
    )
    with pytest.raises(exceptions.InvalidArgument):
        client.create_task(parent=QUEUE, task=get_with_body)
    with pytest.raises(exceptions.InvalidArgument):
        client.create_task(parent=QUEUE, task=_http_task(receiver.url, "bad/name"))
    for headers in ({"Bad Header": "x"}, {"X-Split": "a\r\nInjected: yes"}):
        bad = tasks_v2.Task(http_request=tasks_v2.HttpRequest(url=receiver.url, headers=headers))
        with pytest.raises(exceptions.InvalidArgument, match="header"):
            client.create_task(parent=QUEUE, task=bad)
    no_email = tasks_v2.Task(http_request=tasks_v2.HttpRequest(url=receiver.url, oidc_token=tasks_v2.OidcToken()))
    with pytest.raises(exceptions.InvalidArgument):
        client.create_task(parent=QUEUE, task=no_email)
    assert receiver.received == []


def test_async_client(cloud_tasks: CloudTasks, receiver: Receiver) -> None:
    async def run() -> str:
        channel = grpc.aio.insecure_channel(cloud_tasks.host)
        aclient = tasks_v2.CloudTasksAsyncClient(transport=CloudTasksGrpcAsyncIOTransport(channel=channel))
        try:
            task = await aclient.create_task(parent=QUEUE, task=_http_task(receiver.url, "async_1"))
            with pytest.raises(exceptions.AlreadyExists):
                await aclient.create_task(parent=QUEUE, task=_http_task(receiver.url, "async_1"))
            return str(task.name)
        finally:
            await channel.close()

    name = asyncio.run(run())
    assert cloud_tasks.wait(name)["tasks"][0]["state"] == "succeeded"


def test_backoff_schedule_matches_the_documented_example() -> None:
    policy = RetryPolicy(max_attempts=10, min_backoff=10, max_backoff=300, max_doublings=3)
    assert [policy.backoff(n) for n in range(1, 9)] == [10, 20, 40, 80, 160, 240, 300, 300]
    assert not policy.exhausted(9, 1.0) and policy.exhausted(10, 1.0)
    assert not RetryPolicy(max_attempts=-1).exhausted(1000, 1.0)
    assert not RetryPolicy(max_attempts=2, max_retry_duration=60).exhausted(5, 30.0)
