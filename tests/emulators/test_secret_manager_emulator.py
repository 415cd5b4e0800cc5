"""The Secret Manager emulator answers the real google-cloud-secret-manager client like Google does.

Why: the function's secret cache and its error handling are tested against
this emulator, so names, `latest`, states and status codes must be right.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import grpc
import httpx
import pytest
from google.api_core import exceptions
from google.cloud import secretmanager
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcAsyncIOTransport,
    SecretManagerServiceGrpcTransport,
)

from emulators.secret_manager import crc32c
from tests.emulators.conftest import GEMINI_KEY, SecretManager

__all__: list[str] = []

KEY_VERSION = "projects/demo/secrets/gemini-api-key/versions/latest"


@pytest.fixture
def client(secret_manager: SecretManager) -> Iterator[secretmanager.SecretManagerServiceClient]:
    """Exactly the wiring the function uses when SECRET_MANAGER_EMULATOR_HOST is set."""
    channel = grpc.insecure_channel(secret_manager.host)
    yield secretmanager.SecretManagerServiceClient(transport=SecretManagerServiceGrpcTransport(channel=channel))
    channel.close()


def _new_secret(client: secretmanager.SecretManagerServiceClient, *values: bytes) -> str:
    secret = client.create_secret(
        parent="projects/demo", secret_id=f"s-{uuid.uuid4().hex[:12]}", secret=secretmanager.Secret()
    )
    for value in values:
        client.add_secret_version(parent=secret.name, payload=secretmanager.SecretPayload(data=value))
    return str(secret.name)


def test_ready_line(secret_manager: SecretManager) -> None:
    assert f"Secret Manager emulator listening on {secret_manager.host}" in secret_manager.server.output()


def test_access_latest(client: secretmanager.SecretManagerServiceClient) -> None:
    response = client.access_secret_version(name=KEY_VERSION)
    assert response.payload.data == GEMINI_KEY.encode()
    assert response.name == "projects/demo/secrets/gemini-api-key/versions/1"
    assert response.payload.data_crc32c == crc32c(GEMINI_KEY.encode())


def test_crc32c_known_vector() -> None:
    assert crc32c(b"123456789") == 0xE3069283


def test_numbered_versions(client: secretmanager.SecretManagerServiceClient) -> None:
    base = "projects/demo/secrets/two-versions/versions"
    assert client.access_secret_version(name=f"{base}/1").payload.data == b"first"
    assert client.access_secret_version(name=f"{base}/2").payload.data == b"second"
    latest = client.access_secret_version(name=f"{base}/latest")
    assert (latest.name, latest.payload.data) == (f"{base}/2", b"second")
    version = client.get_secret_version(name=f"{base}/latest")
    assert version.name == f"{base}/2"
    assert version.state == secretmanager.SecretVersion.State.ENABLED


def test_add_version_changes_latest(client: secretmanager.SecretManagerServiceClient) -> None:
    name = _new_secret(client, b"v1")
    assert client.access_secret_version(name=f"{name}/versions/latest").payload.data == b"v1"
    added = client.add_secret_version(
        parent=name, payload=secretmanager.SecretPayload(data=b"v2", data_crc32c=crc32c(b"v2"))
    )
    assert added.name == f"{name}/versions/2"
    assert client.access_secret_version(name=f"{name}/versions/latest").payload.data == b"v2"
    with pytest.raises(exceptions.InvalidArgument):
        client.add_secret_version(parent=name, payload=secretmanager.SecretPayload(data=b"v3", data_crc32c=1))


def test_create_existing_secret(client: secretmanager.SecretManagerServiceClient) -> None:
    with pytest.raises(exceptions.AlreadyExists):
        client.create_secret(parent="projects/demo", secret_id="gemini-api-key", secret=secretmanager.Secret())


def test_not_found(client: secretmanager.SecretManagerServiceClient) -> None:
    with pytest.raises(exceptions.NotFound, match=r"Secret \[projects/demo/secrets/missing\] not found"):
        client.access_secret_version(name="projects/demo/secrets/missing/versions/latest")
    with pytest.raises(exceptions.NotFound):
        client.access_secret_version(name="projects/demo/secrets/gemini-api-key/versions/99")
    with pytest.raises(exceptions.NotFound):
        client.add_secret_version(
            parent="projects/demo/secrets/missing", payload=secretmanager.SecretPayload(data=b"x")
        )
    empty = _new_secret(client)
    with pytest.raises(exceptions.NotFound, match="has no versions"):
        client.access_secret_version(name=f"{empty}/versions/latest")


def test_permission_denied(client: secretmanager.SecretManagerServiceClient) -> None:
    name = "projects/demo/secrets/forbidden/versions/latest"
    with pytest.raises(exceptions.PermissionDenied, match=r"Permission 'secretmanager.versions.access' denied"):
        client.access_secret_version(name=name)


@pytest.mark.parametrize(
    "name",
    ["gemini-api-key", "projects/demo/secrets/gemini-api-key", "projects/demo/secrets/x/versions/0", "projects//x"],
)
def test_malformed_name(client: secretmanager.SecretManagerServiceClient, name: str) -> None:
    with pytest.raises(exceptions.InvalidArgument):
        client.access_secret_version(name=name)


def test_disabled_version(client: secretmanager.SecretManagerServiceClient) -> None:
    name = _new_secret(client, b"old", b"new")
    disabled = client.disable_secret_version(name=f"{name}/versions/2")
    assert disabled.state == secretmanager.SecretVersion.State.DISABLED
    with pytest.raises(exceptions.FailedPrecondition, match="DISABLED"):
        client.access_secret_version(name=f"{name}/versions/2")
    # latest = the highest enabled version
    assert client.access_secret_version(name=f"{name}/versions/latest").payload.data == b"old"
    client.disable_secret_version(name=f"{name}/versions/1")
    with pytest.raises(exceptions.FailedPrecondition):
        client.access_secret_version(name=f"{name}/versions/latest")
    enabled = client.enable_secret_version(name=f"{name}/versions/2")
    assert enabled.state == secretmanager.SecretVersion.State.ENABLED
    assert client.access_secret_version(name=f"{name}/versions/latest").payload.data == b"new"
    assert client.get_secret_version(name=f"{name}/versions/1").state == secretmanager.SecretVersion.State.DISABLED


def test_stats_count_accesses(secret_manager: SecretManager, client: secretmanager.SecretManagerServiceClient) -> None:
    httpx.post(f"{secret_manager.stats_url}/reset-stats").raise_for_status()
    assert httpx.get(f"{secret_manager.stats_url}/stats").json() == {"access_count": {}}
    for _ in range(3):
        client.access_secret_version(name=KEY_VERSION)
    client.access_secret_version(name="projects/demo/secrets/two-versions/versions/1")
    client.get_secret_version(name=KEY_VERSION)  # not an access
    with pytest.raises(exceptions.PermissionDenied):
        client.access_secret_version(name="projects/demo/secrets/forbidden/versions/1")
    counts = httpx.get(f"{secret_manager.stats_url}/stats").json()["access_count"]
    assert counts == {
        "projects/demo/secrets/gemini-api-key": 3,
        "projects/demo/secrets/two-versions": 1,
        "projects/demo/secrets/forbidden": 1,
    }


def test_async_client_works_too(secret_manager: SecretManager) -> None:
    async def access() -> bytes:
        channel = grpc.aio.insecure_channel(secret_manager.host)
        transport = SecretManagerServiceGrpcAsyncIOTransport(channel=channel)
        client = secretmanager.SecretManagerServiceAsyncClient(transport=transport)
        try:
            response = await client.access_secret_version(name=KEY_VERSION)
            return bytes(response.payload.data)
        finally:
            await channel.close()

    assert asyncio.run(access()) == GEMINI_KEY.encode()
