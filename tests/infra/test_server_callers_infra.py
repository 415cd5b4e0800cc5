"""infra/: asynchronous answers on Cloud Tasks, signed callbacks, and the deploy guide's
operator steps for auth keys and a refused revision.

Least privilege is the point: the runtime identity may enqueue on one queue
and act as one account; that account may invoke the function and nothing else.
"""

from __future__ import annotations

import itertools
import re

from tests.infra.conftest import INFRA, single, walk
from tests.infra.test_terraform import RUNTIME_MEMBER, eval_condition

JOBS_MEMBER = "${google_service_account.jobs[0].member}"
DEPLOY = (INFRA / "DEPLOY.md").read_text(encoding="utf-8")


def test_queue_is_optional_and_its_retry_config_comes_from_the_variable(config):
    queue = config.resource("google_cloud_tasks_queue", "jobs").body
    assert queue["count"] == "${local.jobs}"
    assert config.locals["jobs"] == "${var.enable_jobs_queue ? 1 : 0}"
    assert config.variables["enable_jobs_queue"]["default"] is False
    assert queue["location"] == "${var.region}"
    assert queue["name"] == "${var.function_name}-jobs"
    retry = single(queue["retry_config"])
    assert retry == {
        "max_attempts": "${var.jobs_queue.max_attempts}",
        "min_backoff": "${var.jobs_queue.min_backoff_seconds}s",
        "max_backoff": "${var.jobs_queue.max_backoff_seconds}s",
        "max_doublings": "${var.jobs_queue.max_doublings}",
        "max_retry_duration": "${var.jobs_queue.max_retry_duration_seconds}s",
    }
    limits = single(queue["rate_limits"])
    assert limits["max_concurrent_dispatches"] == "${var.jobs_queue.max_concurrent_dispatches}"
    apis = config.resource("google_project_service", "apis").body["for_each"]
    assert 'var.enable_jobs_queue ? ["cloudtasks.googleapis.com"] : []' in apis


def test_jobs_need_redis_at_plan_time(config):
    (validation,) = config.variables["enable_jobs_queue"]["validation"]
    for jobs, redis in itertools.product((False, True), (None, "redis://10.0.0.3:6379")):
        assert eval_condition(validation["condition"], {"enable_jobs_queue": jobs, "redis_url": redis}) is (
            not jobs or redis is not None
        )


def test_runtime_may_enqueue_on_its_queue_only(config):
    enqueue = config.resource("google_cloud_tasks_queue_iam_member", "runtime_enqueue").body
    assert enqueue["role"] == "roles/cloudtasks.enqueuer"
    assert enqueue["member"] == RUNTIME_MEMBER
    assert enqueue["name"] == "${google_cloud_tasks_queue.jobs[0].name}"
    assert enqueue["location"] == "${google_cloud_tasks_queue.jobs[0].location}"
    # No project-wide Cloud Tasks role anywhere.
    for block in config.resources():
        if block.type == "google_project_iam_member":
            assert "cloudtasks" not in str(block.body), block.address


def test_runtime_acts_as_the_jobs_account_only(config):
    act = config.resource("google_service_account_iam_member", "runtime_acts_as_jobs").body
    assert act == {
        "count": "${local.jobs}",
        "service_account_id": "${google_service_account.jobs[0].name}",
        "role": "roles/iam.serviceAccountUser",
        "member": RUNTIME_MEMBER,
    }
    # serviceAccountUser / TokenCreator appear nowhere else (never at project level).
    for block in config.resources():
        for _, value in walk(block.body):
            if isinstance(value, str) and value in (
                "roles/iam.serviceAccountUser",
                "roles/iam.serviceAccountTokenCreator",
            ):
                assert block.address == "google_service_account_iam_member.runtime_acts_as_jobs", block.address


def test_the_jobs_account_may_invoke_the_function_and_nothing_else(config):
    account = config.resource("google_service_account", "jobs").body
    assert account["count"] == "${local.jobs}"
    grants = [
        b.address for b in config.resources() if any(isinstance(v, str) and v == JOBS_MEMBER for _, v in walk(b.body))
    ]
    assert grants == ["google_cloud_run_v2_service_iam_member.jobs_invoker"]
    invoker = config.resource("google_cloud_run_v2_service_iam_member", "jobs_invoker").body
    assert invoker["role"] == "roles/run.invoker"


def test_jobs_env_and_the_url_cycle(config):
    env = config.locals["function_env"]
    for entry in (
        "JOBS_QUEUE = google_cloud_tasks_queue.jobs[0].id",
        "JOBS_SERVICE_ACCOUNT = google_service_account.jobs[0].email",
        "JOBS_URL = local.jobs_url",
    ):
        assert entry in env, entry
    # The function cannot read its own url attribute into its own environment:
    # the deterministic cloudfunctions.net URL, or the operator's jobs_url.
    assert config.locals["jobs_url"] == (
        '${coalesce(var.jobs_url, "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.function_name}")}'
    )
    fn = config.resource("google_cloudfunctions2_function", "this").body
    assert "google_cloudfunctions2_function.this.url" not in env
    (postcondition,) = single(fn["lifecycle"])["postcondition"]
    assert "local.jobs_url" in postcondition["condition"] and "self.url" in postcondition["condition"]
    assert "jobs_url" in postcondition["error_message"]
    for grant in (
        "${google_cloud_tasks_queue_iam_member.runtime_enqueue}",
        "${google_service_account_iam_member.runtime_acts_as_jobs}",
    ):
        assert grant in fn["depends_on"]
    (rx,) = re.findall(r'regex\("((?:[^"\\]|\\.)*)"', config.variables["jobs_url"]["validation"][0]["condition"])
    rx = re.sub(r"\\(.)", r"\1", rx)
    assert re.search(rx, "https://us-central1-my-project.cloudfunctions.net/gemini-gateway")
    assert re.search(rx, "https://gemini-gateway-123456789012.us-central1.run.app")
    for bad in ("http://x.example.com", "https://x.example.com/", "https://"):
        assert not re.search(rx, bad), bad


def test_callbacks_need_prefixes_and_bring_a_signing_secret(config):
    env = config.locals["function_env"]
    assert 'CALLBACK_SIGNING_SECRET_SECRET = local.secret_version_names["callback_signing_secret"]' in env
    assert "CALLBACK_URL_PREFIXES = join(" in env
    value = config.variables["callback_signing_secret_value"]
    assert value.get("ephemeral") is True and value.get("sensitive") is True
    (rx,) = re.findall(
        r'regex\("((?:[^"\\]|\\.)*)"', config.variables["callback_url_prefixes"]["validation"][0]["condition"]
    )
    rx = re.sub(r"\\(.)", r"\1", rx)
    assert re.search(rx, "https://hooks.example.com/gemini/")
    for bad in ("http://hooks.example.com/", "https://a.example.com/,https://b.example.com/", "hooks.example.com"):
        assert not re.search(rx, bad), bad


# --- the deploy guide ----------------------------------------------------------------------------


def test_deploy_guide_covers_the_new_operator_steps():
    text = " ".join(DEPLOY.split())
    # An auth key (AQ.), bound to a service account, stored as the Gemini key's version.
    assert "AQ." in text and "AIza" in text and "service account" in text
    assert "https://ai.google.dev/gemini-api/docs/api-key" in text
    # A whsec_ signing secret, made by the operator.
    assert 'gcloud secrets versions add "$FN-callback-signing-secret"' in text and "whsec_" in text
    assert "jobs_url" in text and "cloudfunctions.net" in text
    # A revision refused at start keeps the last good one serving.
    assert "keeps serving the last good revision" in text or "keeps serving the previous revision" in text
    assert "notification_channels" in text and "docs/OPERATING.md" in text
