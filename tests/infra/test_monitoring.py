"""infra/monitoring.tf: log-based metrics from the access line, the dashboard and the alerts (docs/OPERATING.md).

Over the parsed HCL: every metric reads the function's own access lines (its
Cloud Run service, its stdout), names only access-line fields, labels what it
extracts; the alerts watch those metrics and notify var.notification_channels;
the dashboard shows every metric and Cloud Run's instance and memory metrics.
The fields are checked against the function's real lines in
tests/integration/test_access_fields.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra.conftest import INFRA, single, walk
from tests.infra.log_metrics import (
    ACCESS_LINE_FIELDS,
    LIFTED_FIELDS,
    SAMPLE_VARS,
    LogMetric,
    extract,
    log_metrics,
    named_payload_fields,
    parse_filter,
)
from tests.infra.test_terraform import eval_condition

METRICS = ("requests", "tokens", "upstream_latency", "refusals", "key_rejections")
ALERTS = {
    "errors_5xx": ("requests",),
    "upstream_latency": ("upstream_latency",),
    "budget_refusals": ("refusals",),
    "key_rejected": ("key_rejections",),
}
FN, PROJECT = SAMPLE_VARS["function_name"], SAMPLE_VARS["project_id"]
BASE_TERMS = (
    ("resource.type", "=", "cloud_run_revision"),
    ("resource.labels.service_name", "=", FN),
    ("logName", "=", f"projects/{PROJECT}/logs/run.googleapis.com%2Fstdout"),
    ("jsonPayload.latency_ms", ":*", None),
)


@pytest.fixture(scope="module")
def metrics() -> dict[str, LogMetric]:
    return log_metrics()


def line(**fields: Any) -> dict[str, Any]:
    """An access line's jsonPayload (the fields every line has, plus these)."""
    return {"request_id": "r1", "status": 200, "latency_ms": 12.5, **fields}


# --- the metrics ---------------------------------------------------------------------------------


def test_the_five_metrics_exist_one_set_per_function(config, metrics):
    assert set(metrics) == set(METRICS)
    names = config.locals["log_metric_names"]
    for key in METRICS:
        assert names[key] == f"${{var.function_name}}/{key}"
        body = config.resource("google_logging_metric", key).body
        assert body["name"] == f"${{local.log_metric_names.{key}}}"
        assert body["count"] == "${local.monitoring}"
        assert body["project"] == "${var.project_id}"
        assert metrics[key].name == f"{FN}/{key}"
        # Metric names: at most 100 characters of the allowed set, with the longest function name.
        longest = "f" * 63 + "/" + key
        assert len(longest) <= 100 and re.fullmatch(r"[A-Za-z0-9_\-.,+!*'()%/]+", longest)
    assert config.locals["monitoring"] == "${var.enable_monitoring ? 1 : 0}"
    assert config.variables["enable_monitoring"]["default"] is True


@pytest.mark.parametrize("key", METRICS)
def test_every_filter_reads_the_functions_access_lines_only(metrics, key):
    """Its Cloud Run service, its stdout log, and a field only access lines have, before anything else."""
    terms = metrics[key].terms
    assert [(t.field, t.op, t.value) for t in terms[: len(BASE_TERMS)]] == list(BASE_TERMS)
    for term in terms[len(BASE_TERMS) :]:
        assert term.field.startswith("jsonPayload."), term


def test_the_access_line_filter_is_built_from_the_variables(config):
    text = config.locals["access_line_filter"]
    assert 'resource.labels.service_name=\\"${var.function_name}\\"' in text
    assert 'logName=\\"projects/${var.project_id}/logs/run.googleapis.com%2Fstdout\\"' in text


@pytest.mark.parametrize("key", METRICS)
def test_filters_and_extractors_name_only_access_line_fields(metrics, key):
    metric = metrics[key]
    known = ACCESS_LINE_FIELDS
    assert metric.fields() <= known, sorted(metric.fields() - known)
    # Cloud Logging moves these out of jsonPayload: never name them there.
    assert not metric.fields() & LIFTED_FIELDS


def test_every_field_named_anywhere_is_an_access_line_field():
    named = named_payload_fields()
    known = ACCESS_LINE_FIELDS
    assert named <= known, sorted(named - known)
    assert "httpRequest" not in named


@pytest.mark.parametrize("key", METRICS)
def test_label_extractors_match_the_descriptor(metrics, key):
    metric = metrics[key]
    assert set(metric.label_extractors) == set(metric.descriptor_labels)
    for extractor in metric.label_extractors.values():
        extract(extractor, line())  # parses: EXTRACT or REGEXP_EXTRACT of a jsonPayload field
    if metric.value_type == "DISTRIBUTION":
        assert metric.value_extractor is not None
        # Only lines that carry the value are counted.
        (value_field,) = re.findall(r"jsonPayload\.(\w+)", metric.value_extractor)
        assert any(t.field == f"jsonPayload.{value_field}" for t in metric.terms[len(BASE_TERMS) :])
    else:
        assert metric.value_type == "INT64" and metric.value_extractor is None


def test_distributions_have_buckets_and_units(config):
    tokens = config.resource("google_logging_metric", "tokens").body
    latency = config.resource("google_logging_metric", "upstream_latency").body
    for body in (tokens, latency):
        buckets = single(single(body["bucket_options"])["exponential_buckets"])
        assert buckets["growth_factor"] > 1 and buckets["num_finite_buckets"] >= 30
        assert single(body["metric_descriptor"])["metric_kind"] == "DELTA"
    assert single(latency["metric_descriptor"])["unit"] == "ms"
    # Latency buckets reach past the longest upstream wait a function can have (3600 s).
    lat = single(single(latency["bucket_options"])["exponential_buckets"])
    assert lat["scale"] * lat["growth_factor"] ** lat["num_finite_buckets"] > 3600 * 1000


def test_caller_kind_is_bounded(metrics):
    """The kind, never the whole identity: one series per key name, not one per user."""
    extractor = metrics["requests"].label_extractors["caller_kind"]
    for caller, kind in (
        ("uid:Xy12AbCdEf", "uid"),
        ("app:1:123456789012:ios:abcdef", "app"),
        ("webhook", "webhook"),
        ("anonymous", "anonymous"),
        ("ios-app", "ios-app"),
    ):
        assert extract(extractor, line(caller=caller)) == kind
    assert extract(extractor, line()) is None
    for key in ("requests", "tokens", "refusals"):
        assert metrics[key].label_extractors["caller_kind"] == extractor
    assert all("caller)" not in e for m in metrics.values() for e in m.label_extractors.values())


def test_what_each_metric_counts(metrics):
    ok = line(route="generate", caller="ios-app", model="gemini-3.8-flash", upstream_ms=800.0, total_tokens=42)
    assert metrics["requests"].matches(ok)
    assert metrics["requests"].labels(ok) == {
        "route": "generate",
        "status": "200",
        "caller_kind": "ios-app",
        "error_type": None,
    }
    assert metrics["tokens"].matches(ok) and extract(metrics["tokens"].value_extractor or "", ok) == "42"
    assert not metrics["tokens"].matches(line(total_tokens=0)), "an answer with no usage is not spend"
    assert metrics["upstream_latency"].matches(ok)
    assert not metrics["upstream_latency"].matches(line(status=401)), "refused before the upstream"
    stream = line(upstream_ms=300.0, stream=True, route="openai")
    assert metrics["upstream_latency"].labels(stream)["stream"] == "true"

    budget = line(status=429, error_type="rate_limited", limit="daily_tokens", caller="uid:abc")
    rate = line(status=429, error_type="rate_limited", limit="rate", caller="web")
    upstream_quota = line(status=429, error_type="rate_limited", upstream_ms=20.0)
    for refused in (budget, rate, upstream_quota):
        assert metrics["refusals"].matches(refused)
    assert metrics["refusals"].labels(budget)["limit"] == "daily_tokens"
    assert metrics["refusals"].labels(rate)["limit"] == "rate"
    assert metrics["refusals"].labels(upstream_quota)["limit"] is None
    assert not metrics["refusals"].matches(line(status=400, error_type="invalid_request"))

    for reason in ("API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "ACCESS_TOKEN_TYPE_UNSUPPORTED"):
        rejected = line(status=502, error_type="upstream_error", upstream_reason=reason)
        assert metrics["key_rejections"].matches(rejected), reason
        assert metrics["key_rejections"].labels(rejected) == {"reason": reason}
    for other in (
        line(status=502, error_type="upstream_error"),
        line(status=502, error_type="upstream_error", upstream_reason="RESOURCE_EXHAUSTED"),
        line(status=400, error_type="invalid_request", upstream_reason="API_KEY_INVALID"),
    ):
        assert not metrics["key_rejections"].matches(other), other


def test_the_filter_grammar_refuses_what_it_cannot_evaluate():
    for bad in ('jsonPayload.a="x" OR jsonPayload.b="y"', "NOT jsonPayload.a:*", 'jsonPayload.a:"x"', "a=b"):
        with pytest.raises(ValueError):
            parse_filter(bad)


# --- the alerts ------------------------------------------------------------------------------------


def _alert(config, name: str) -> dict[str, Any]:
    return config.resource("google_monitoring_alert_policy", name).body


@pytest.mark.parametrize(("name", "watched"), ALERTS.items())
def test_alerts_watch_their_metrics_and_notify_the_channels(config, name, watched):
    body = _alert(config, name)
    assert body["count"] == "${local.monitoring}"
    assert body["notification_channels"] == "${var.notification_channels}"
    doc = single(body["documentation"])
    assert doc["mime_type"] == "text/markdown" and "docs/OPERATING.md" in doc["content"]
    filters = [v for path, v in walk(body["conditions"]) if path.split(".")[-1] in ("filter", "denominator_filter")]
    assert filters
    for f in filters:
        refs = set(re.findall(r"\$\{local\.log_metric_types\.(\w+)\}", f))
        assert refs and refs <= set(watched), (name, f)
        assert 'resource.type="cloud_run_revision"' in f
    assert body["depends_on"] == [f"${{google_logging_metric.{m}}}" for m in watched]
    assert config.locals["log_metric_types"] == (
        '${{for k, name in local.log_metric_names : k => "logging.googleapis.com/user/${name}"}}'
    )


def test_alert_thresholds_are_variables_with_sane_defaults(config):
    v = config.variables
    assert v["notification_channels"]["default"] == []
    assert v["alert_5xx_ratio"]["default"] == 0.05
    assert v["alert_5xx_min_requests"]["default"] == 20
    assert v["alert_upstream_latency_p95_ms"]["default"] == 30000
    assert v["alert_budget_refusals_per_hour"]["default"] == 10
    assert "var.upstream_timeout_seconds * 1000" in v["alert_upstream_latency_p95_ms"]["validation"][0]["condition"]

    def threshold(name: str, index: int = 0) -> Any:
        return single(_alert(config, name)["conditions"][index]["condition_threshold"])

    share, volume = threshold("errors_5xx", 0), threshold("errors_5xx", 1)
    assert share["threshold_value"] == "${var.alert_5xx_ratio}"
    assert share["filter"].endswith(' AND metric.label."status"=monitoring.regex.full_match("5[0-9][0-9]")')
    assert share["denominator_filter"] == share["filter"].partition(' AND metric.label."status"')[0]
    assert 'metric.label."route"!="internal_jobs"' in share["denominator_filter"], "the task route's 503s are retries"
    assert "denominator_filter" in share and share["denominator_aggregations"]
    assert volume["threshold_value"] == "${var.alert_5xx_min_requests - 1}"
    assert _alert(config, "errors_5xx")["combiner"] == "AND", "a share is judged only over enough requests"
    latency = threshold("upstream_latency")
    assert latency["threshold_value"] == "${var.alert_upstream_latency_p95_ms}"
    assert single(latency["aggregations"])["cross_series_reducer"] == "REDUCE_PERCENTILE_95"
    budget = threshold("budget_refusals")
    assert budget["threshold_value"] == "${var.alert_budget_refusals_per_hour}"
    assert budget["filter"].endswith(' AND metric.label."limit"="daily_tokens"')
    assert single(budget["aggregations"])["alignment_period"] == "3600s"
    key = threshold("key_rejected")
    assert key["threshold_value"] == 0 and key["comparison"] == "COMPARISON_GT"
    assert _alert(config, "key_rejected")["severity"] == "CRITICAL"


def test_notification_channels_validation(config):
    (validation,) = config.variables["notification_channels"]["validation"]
    (rx,) = re.findall(r'regex\("((?:[^"\\]|\\.)*)"', validation["condition"])
    rx = re.sub(r"\\(.)", r"\1", rx)
    assert re.search(rx, "projects/my-project-1/notificationChannels/1234567890")
    for bad in ("1234567890", "projects/p/notificationChannels/", "projects/p/alertPolicies/1"):
        assert not re.search(rx, bad), bad


# --- the dashboard ---------------------------------------------------------------------------------


def test_dashboard_shows_every_metric_and_cloud_runs_own(config):
    board = config.resource("google_monitoring_dashboard", "this").body
    assert board["dashboard_json"] == "${jsonencode(local.dashboard)}"
    assert board["count"] == "${local.monitoring}"
    assert {f"${{google_logging_metric.{m}}}" for m in METRICS} <= set(board["depends_on"])
    text = (INFRA / "monitoring.tf").read_text(encoding="utf-8")
    tiles = text[text.index("dashboard_tiles = [") : text.index('resource "google_monitoring_dashboard"')]
    for key in ("requests", "upstream_latency", "refusals", "key_rejections"):
        assert f"local.log_metric_types.{key}" in tiles, key
    assert "local.promql_tokens_sum" in tiles  # tokens: summed through PromQL
    assert 'run.googleapis.com/container/instance_count\\"' in tiles
    assert 'run.googleapis.com/container/memory/utilizations\\"' in tiles
    assert tiles.count("local.run_service_filter") == 2
    assert config.locals["run_service_filter"] == (
        'resource.type="cloud_run_revision" AND resource.label."service_name"="${var.function_name}"'
    )


def test_promql_name_follows_the_mapping_rules(config):
    """First "/" to ":", every other special character to "_", _sum for a distribution's sum."""
    metric_type = f"logging.googleapis.com/user/{FN}/tokens"
    head, _, tail = metric_type.partition("/")
    expected = re.sub(r"[^A-Za-z0-9_:]", "_", head) + ":" + re.sub(r"[^A-Za-z0-9_]", "_", tail) + "_sum"
    expr = config.locals["promql_tokens_sum"]
    assert expr == (
        'logging_googleapis_com:user_${replace(replace(local.log_metric_names.tokens, "/", "_"), "-", "_")}_sum'
    )
    # function_name is [a-z0-9-]: replacing "/" and "-" covers every special character it can hold.
    rendered = "logging_googleapis_com:user_" + f"{FN}/tokens".replace("/", "_").replace("-", "_") + "_sum"
    assert rendered == expected == "logging_googleapis_com:user_gemini_gateway_tokens_sum"


def test_dashboard_tiles_fit_the_grid(config):
    tiles = config.locals["dashboard_tiles"]
    cells: set[tuple[int, int]] = set()
    for tile in tiles:
        assert tile["xPos"] + tile["width"] <= 48
        for x in range(tile["xPos"], tile["xPos"] + tile["width"]):
            for y in range(tile["yPos"], tile["yPos"] + tile["height"]):
                assert (x, y) not in cells, f"tiles overlap at {(x, y)}: {tile['widget']['title']}"
                cells.add((x, y))
    assert len(tiles) == 12


def test_monitoring_api_is_enabled_with_it(config):
    apis = config.resource("google_project_service", "apis").body["for_each"]
    assert 'var.enable_monitoring ? ["monitoring.googleapis.com"] : []' in apis
    assert eval_condition("var.enable_monitoring", {"enable_monitoring": True})


def test_operating_guide_explains_every_tile_and_alert(config):
    guide = (INFRA.parent / "docs" / "OPERATING.md").read_text(encoding="utf-8")
    for key in METRICS:
        assert f"`{key}`" in guide, key
    for heading in ("### 5xx share", "### Upstream latency p95", "### Budget refusals", "### Gemini key rejected"):
        assert heading in guide, heading
    # The dashboard sketch shows every tile, by its title.
    sketch = guide[guide.index("```text\n+---") :]
    for tile in config.locals["dashboard_tiles"]:
        assert f"| {tile['widget']['title']} " in sketch, tile["widget"]["title"]
    # Rotation covers both key formats.
    assert "`AQ.`" in guide and "`AIza…`" in guide
    assert "run.googleapis.com/container/" in guide
