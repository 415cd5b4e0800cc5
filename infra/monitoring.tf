# ---------------------------------------------------------------------------
# Spend, errors and latency at a glance (docs/OPERATING.md): log-based
# metrics built from the function's access line, one dashboard, four alerts.
#
# The access line is the one JSON line the function writes on stdout per
# request; Cloud Logging stores it as jsonPayload. Cloud Logging lifts
# `httpRequest`, `severity`, `message` and the trace fields out of
# jsonPayload into the log entry itself, so the filters below use the
# function's own copies (`status`, `latency_ms`), never jsonPayload.httpRequest.
# Every jsonPayload field named here is one the function writes: a test runs
# the function and checks each of them against its access lines
# (tests/integration/test_access_fields.py).
#
# Off with enable_monitoring = false. Alerts are created even with no
# notification_channels: incidents then show in the console only.
# ---------------------------------------------------------------------------

locals {
  monitoring = var.enable_monitoring ? 1 : 0

  # The function's access lines, and nothing else: its Cloud Run service,
  # its stdout, and a field only the access line has.
  access_line_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${var.function_name}\"",
    "logName=\"projects/${var.project_id}/logs/run.googleapis.com%2Fstdout\"",
    "jsonPayload.latency_ms:*",
  ])

  # Caller kind from the caller identity: "uid" (a Firebase user), "app" (an
  # App Check app), "webhook", "anonymous", or the client key's own name
  # (one series per key, bounded by the keys the operator issues). Never the
  # full identity: one series per user would be unbounded.
  caller_kind_extractor = "REGEXP_EXTRACT(jsonPayload.caller, \"^([^:]+)\")"

  # Metric names (logging.googleapis.com/user/<name>), one set per function.
  log_metric_names = {
    requests         = "${var.function_name}/requests"
    tokens           = "${var.function_name}/tokens"
    upstream_latency = "${var.function_name}/upstream_latency"
    refusals         = "${var.function_name}/refusals"
    key_rejections   = "${var.function_name}/key_rejections"
  }
  log_metric_types = { for k, name in local.log_metric_names : k => "logging.googleapis.com/user/${name}" }

  # The same metrics in PromQL: the first "/" becomes ":", every other
  # special character "_"; distributions add _sum, _count or _bucket.
  promql_tokens_sum = "logging_googleapis_com:user_${replace(replace(local.log_metric_names.tokens, "/", "_"), "-", "_")}_sum"

  # Cloud Run's own metrics of the function's service.
  run_service_filter = "resource.type=\"cloud_run_revision\" AND resource.label.\"service_name\"=\"${var.function_name}\""
}

# --- log-based metrics -------------------------------------------------------

resource "google_logging_metric" "requests" {
  count = local.monitoring

  project     = var.project_id
  name        = local.log_metric_names.requests
  description = "Requests to ${var.function_name}, one per access line, by route, status, caller kind and error type."
  filter      = local.access_line_filter

  label_extractors = {
    route       = "EXTRACT(jsonPayload.route)"
    status      = "EXTRACT(jsonPayload.status)"
    caller_kind = local.caller_kind_extractor
    error_type  = "EXTRACT(jsonPayload.error_type)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.function_name} requests"

    labels {
      key         = "route"
      value_type  = "STRING"
      description = "The route's name (generate, openai, gemini, interactions, template, templates, jobs, internal_jobs, health); empty when no route matched (404, 405)."
    }
    labels {
      key         = "status"
      value_type  = "STRING"
      description = "HTTP status of the answer (499: the caller went away)."
    }
    labels {
      key         = "caller_kind"
      value_type  = "STRING"
      description = "uid, app, webhook, anonymous or the client key's name; empty when the caller was refused."
    }
    labels {
      key         = "error_type"
      value_type  = "STRING"
      description = "The error type of a refused or failed request; empty on success."
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_logging_metric" "tokens" {
  count = local.monitoring

  project         = var.project_id
  name            = local.log_metric_names.tokens
  description     = "Tokens (usage total_tokens) of each answer of ${var.function_name}, by caller kind, model and route: what Gemini bills."
  filter          = "${local.access_line_filter} AND jsonPayload.total_tokens>0"
  value_extractor = "EXTRACT(jsonPayload.total_tokens)"

  label_extractors = {
    caller_kind = local.caller_kind_extractor
    model       = "EXTRACT(jsonPayload.model)"
    route       = "EXTRACT(jsonPayload.route)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "1"
    display_name = "${var.function_name} tokens per answer"

    labels {
      key         = "caller_kind"
      value_type  = "STRING"
      description = "uid, app, webhook, anonymous or the client key's name."
    }
    labels {
      key         = "model"
      value_type  = "STRING"
      description = "The model called upstream (after MODEL_ALIASES)."
    }
    labels {
      key         = "route"
      value_type  = "STRING"
      description = "generate, openai or gemini."
    }
  }

  # 1, 2, 4, ... 2^30 tokens.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 31
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_logging_metric" "upstream_latency" {
  count = local.monitoring

  project         = var.project_id
  name            = local.log_metric_names.upstream_latency
  description     = "Time ${var.function_name} spent waiting on the AI Gateway and Gemini per request (upstream_ms, retries included), by route, model and stream."
  filter          = "${local.access_line_filter} AND jsonPayload.upstream_ms:*"
  value_extractor = "EXTRACT(jsonPayload.upstream_ms)"

  label_extractors = {
    route  = "EXTRACT(jsonPayload.route)"
    model  = "EXTRACT(jsonPayload.model)"
    stream = "EXTRACT(jsonPayload.stream)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "${var.function_name} upstream latency"

    labels {
      key         = "route"
      value_type  = "STRING"
      description = "generate, openai or gemini."
    }
    labels {
      key         = "model"
      value_type  = "STRING"
      description = "The model called upstream."
    }
    labels {
      key         = "stream"
      value_type  = "STRING"
      description = "true for a streamed answer (time to the stream's start), empty otherwise."
    }
  }

  # 1 ms to ~1.2 h in steps of 1.5x.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 40
      growth_factor      = 1.5
      scale              = 1
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_logging_metric" "refusals" {
  count = local.monitoring

  project     = var.project_id
  name        = local.log_metric_names.refusals
  description = "429 rate_limited answers of ${var.function_name}: a caller's daily token budget (limit daily_tokens), its rate limit (limit rate), or the upstream's own quota (limit empty)."
  filter      = "${local.access_line_filter} AND jsonPayload.error_type=\"rate_limited\""

  label_extractors = {
    limit       = "EXTRACT(jsonPayload.limit)"
    caller_kind = local.caller_kind_extractor
    route       = "EXTRACT(jsonPayload.route)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.function_name} budget and rate-limit refusals"

    labels {
      key         = "limit"
      value_type  = "STRING"
      description = "daily_tokens (budget), rate (requests per minute), or empty (Gemini or the gateway is rate limiting the function)."
    }
    labels {
      key         = "caller_kind"
      value_type  = "STRING"
      description = "uid, app, webhook, anonymous or the client key's name."
    }
    labels {
      key         = "route"
      value_type  = "STRING"
      description = "generate, openai or gemini."
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_logging_metric" "key_rejections" {
  count = local.monitoring

  project     = var.project_id
  name        = local.log_metric_names.key_rejections
  description = "Requests of ${var.function_name} that failed because Gemini refused the function's own key (API_KEY_INVALID, API_KEY_SERVICE_BLOCKED, ACCESS_TOKEN_TYPE_UNSUPPORTED, ...): rotate the key."
  filter      = "${local.access_line_filter} AND jsonPayload.error_type=\"upstream_error\" AND jsonPayload.upstream_reason=~\"^(API_KEY_|ACCESS_TOKEN_TYPE_)\""

  label_extractors = {
    reason = "EXTRACT(jsonPayload.upstream_reason)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.function_name} Gemini key rejections"

    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "Google's ErrorInfo reason for refusing the key."
    }
  }

  depends_on = [google_project_service.apis]
}

# --- the dashboard -------------------------------------------------------------

locals {
  # One tile: an XY chart of the given data sets, at (x, y) on a 48-column grid.
  dashboard_tiles = [
    {
      xPos = 0, yPos = 0, width = 24, height = 16
      widget = {
        title = "Requests per second by status"
        xyChart = {
          dataSets = [{
            plotType       = "STACKED_AREA"
            legendTemplate = "$${metric.labels.status}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"${local.log_metric_types.requests}\" AND resource.type=\"cloud_run_revision\""
                aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_RATE", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.\"status\""] }
              }
            }
          }]
          yAxis = { label = "requests/s", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 24, yPos = 0, width = 24, height = 16
      widget = {
        title = "Requests per second by route"
        xyChart = {
          dataSets = [{
            plotType       = "STACKED_AREA"
            legendTemplate = "$${metric.labels.route}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"${local.log_metric_types.requests}\" AND resource.type=\"cloud_run_revision\""
                aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_RATE", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.\"route\""] }
              }
            }
          }]
          yAxis = { label = "requests/s", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 0, yPos = 16, width = 24, height = 16
      widget = {
        title = "Requests per second by caller kind"
        xyChart = {
          dataSets = [{
            plotType       = "STACKED_AREA"
            legendTemplate = "$${metric.labels.caller_kind}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"${local.log_metric_types.requests}\" AND resource.type=\"cloud_run_revision\""
                aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_RATE", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.\"caller_kind\""] }
              }
            }
          }]
          yAxis = { label = "requests/s", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 24, yPos = 16, width = 24, height = 16
      widget = {
        title = "5xx share of requests"
        xyChart = {
          dataSets = [{
            plotType = "LINE"
            timeSeriesQuery = {
              timeSeriesFilterRatio = {
                numerator = {
                  filter      = "metric.type=\"${local.log_metric_types.requests}\" AND resource.type=\"cloud_run_revision\" AND metric.label.\"status\"=monitoring.regex.full_match(\"5[0-9][0-9]\")"
                  aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM" }
                }
                denominator = {
                  filter      = "metric.type=\"${local.log_metric_types.requests}\" AND resource.type=\"cloud_run_revision\""
                  aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM" }
                }
              }
            }
          }]
          thresholds = [{ value = var.alert_5xx_ratio, color = "RED", direction = "ABOVE", label = "alert" }]
          yAxis      = { label = "share", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 0, yPos = 32, width = 24, height = 16
      widget = {
        title = "Tokens per hour by caller kind"
        xyChart = {
          dataSets = [{
            plotType        = "STACKED_AREA"
            timeSeriesQuery = { prometheusQuery = "sum by (caller_kind) (increase(${local.promql_tokens_sum}{monitored_resource=\"cloud_run_revision\"}[1h]))", unitOverride = "1" }
          }]
          yAxis = { label = "tokens/h", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 24, yPos = 32, width = 24, height = 16
      widget = {
        title = "Tokens per hour by model"
        xyChart = {
          dataSets = [{
            plotType        = "STACKED_AREA"
            timeSeriesQuery = { prometheusQuery = "sum by (model) (increase(${local.promql_tokens_sum}{monitored_resource=\"cloud_run_revision\"}[1h]))", unitOverride = "1" }
          }]
          yAxis = { label = "tokens/h", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 0, yPos = 48, width = 24, height = 16
      widget = {
        title = "Upstream latency: p50, p95, p99"
        xyChart = {
          dataSets = [for p in ["50", "95", "99"] : {
            plotType       = "LINE"
            legendTemplate = "p${p}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"${local.log_metric_types.upstream_latency}\" AND resource.type=\"cloud_run_revision\""
                aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_PERCENTILE_${p}" }
              }
            }
          }]
          thresholds = [{ value = var.alert_upstream_latency_p95_ms, color = "RED", direction = "ABOVE", label = "p95 alert" }]
          yAxis      = { label = "ms", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 24, yPos = 48, width = 24, height = 16
      widget = {
        title = "Refusals (429) per minute by limit"
        xyChart = {
          dataSets = [{
            plotType       = "STACKED_BAR"
            legendTemplate = "$${metric.labels.limit}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"${local.log_metric_types.refusals}\" AND resource.type=\"cloud_run_revision\""
                aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.\"limit\""] }
              }
            }
          }]
          yAxis = { label = "refusals/min", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 0, yPos = 64, width = 24, height = 16
      widget = {
        title = "Gemini key rejections by reason"
        xyChart = {
          dataSets = [{
            plotType       = "STACKED_BAR"
            legendTemplate = "$${metric.labels.reason}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"${local.log_metric_types.key_rejections}\" AND resource.type=\"cloud_run_revision\""
                aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.\"reason\""] }
              }
            }
          }]
          yAxis = { label = "rejections/min", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 24, yPos = 64, width = 24, height = 16
      widget = {
        title = "Instances: active and idle"
        xyChart = {
          dataSets = [{
            plotType       = "STACKED_AREA"
            legendTemplate = "$${metric.labels.state}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"run.googleapis.com/container/instance_count\" AND ${local.run_service_filter}"
                aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.\"state\""] }
              }
            }
          }]
          yAxis = { label = "instances", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 0, yPos = 80, width = 24, height = 16
      widget = {
        title = "Memory per instance: p50, p99"
        xyChart = {
          dataSets = [for p in ["50", "99"] : {
            plotType       = "LINE"
            legendTemplate = "p${p}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"run.googleapis.com/container/memory/utilizations\" AND ${local.run_service_filter}"
                aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_PERCENTILE_${p}" }
              }
            }
          }]
          yAxis = { label = "share of available_memory", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 24, yPos = 80, width = 24, height = 16
      widget = {
        title = "Failed requests (5xx access lines)"
        logsPanel = {
          filter        = "${local.access_line_filter} AND jsonPayload.status>=500"
          resourceNames = ["projects/${var.project_id}"]
        }
      }
    },
  ]

  dashboard = {
    displayName  = "${var.function_name}: spend, errors and latency"
    mosaicLayout = { columns = 48, tiles = local.dashboard_tiles }
  }
}

resource "google_monitoring_dashboard" "this" {
  count = local.monitoring

  project        = var.project_id
  dashboard_json = jsonencode(local.dashboard)

  depends_on = [
    google_project_service.apis,
    google_logging_metric.requests,
    google_logging_metric.tokens,
    google_logging_metric.upstream_latency,
    google_logging_metric.refusals,
    google_logging_metric.key_rejections,
  ]
}

# --- alerts ---------------------------------------------------------------------
# Each refers to its metric by type (logging.googleapis.com/user/<name>) and
# waits for it (depends_on): an alert on a metric that does not exist yet is
# refused by the API.

resource "google_monitoring_alert_policy" "errors_5xx" {
  count = local.monitoring

  project               = var.project_id
  display_name          = "${var.function_name}: 5xx share above ${var.alert_5xx_ratio * 100}%"
  combiner              = "AND"
  severity              = "ERROR"
  notification_channels = var.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.function_name}: answers failing (5xx)"
    content   = "More than ${var.alert_5xx_ratio * 100}% of ${var.function_name}'s answers over 5 minutes were 5xx (at least ${var.alert_5xx_min_requests} requests). Look at the dashboard's *Failed requests* panel: `error_type` names the cause (upstream_error, upstream_timeout, unavailable, internal). What to do: docs/OPERATING.md, *5xx share*."
  }

  conditions {
    display_name = "5xx / all requests over 5 minutes"
    condition_threshold {
      # Callers' answers only: the task route's 503s are Cloud Tasks being told to try again (docs/OPERATING.md, Jobs).
      filter             = "metric.type=\"${local.log_metric_types.requests}\" AND resource.type=\"cloud_run_revision\" AND metric.label.\"route\"!=\"internal_jobs\" AND metric.label.\"status\"=monitoring.regex.full_match(\"5[0-9][0-9]\")"
      denominator_filter = "metric.type=\"${local.log_metric_types.requests}\" AND resource.type=\"cloud_run_revision\" AND metric.label.\"route\"!=\"internal_jobs\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_5xx_ratio
      duration           = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  # With AND: a share is only judged over enough requests (one failed request
  # in a quiet five minutes is not an incident).
  conditions {
    display_name = "at least ${var.alert_5xx_min_requests} requests over 5 minutes"
    condition_threshold {
      filter          = "metric.type=\"${local.log_metric_types.requests}\" AND resource.type=\"cloud_run_revision\" AND metric.label.\"route\"!=\"internal_jobs\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_5xx_min_requests - 1
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [google_logging_metric.requests]
}

resource "google_monitoring_alert_policy" "upstream_latency" {
  count = local.monitoring

  project               = var.project_id
  display_name          = "${var.function_name}: upstream latency p95 above ${var.alert_upstream_latency_p95_ms} ms"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.function_name}: Gemini answers slowly"
    content   = "The 95th percentile of the time ${var.function_name} waited on the AI Gateway and Gemini stayed above ${var.alert_upstream_latency_p95_ms} ms for 10 minutes. Split it by model on the dashboard; the function's own share is latency_ms - upstream_ms in the access line. What to do: docs/OPERATING.md, *Upstream latency*."
  }

  conditions {
    display_name = "upstream_ms p95 over 5 minutes"
    condition_threshold {
      filter          = "metric.type=\"${local.log_metric_types.upstream_latency}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_upstream_latency_p95_ms
      duration        = "600s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_95"
      }
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [google_logging_metric.upstream_latency]
}

resource "google_monitoring_alert_policy" "budget_refusals" {
  count = local.monitoring

  project               = var.project_id
  display_name          = "${var.function_name}: more than ${var.alert_budget_refusals_per_hour} daily-budget refusals in an hour"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.function_name}: callers are out of daily tokens"
    content   = "Over the last hour more than ${var.alert_budget_refusals_per_hour} requests were refused with 429 because their caller had spent its daily token budget (limit daily_tokens). Either the budget is too small for honest use (raise daily_token_budget or the caller's policy), or one caller is spending far more than the others (the dashboard's *Tokens per hour by caller kind*; the access lines' `caller`). What to do: docs/OPERATING.md, *Budget refusals*."
  }

  conditions {
    display_name = "429 with limit daily_tokens, per hour"
    condition_threshold {
      filter          = "metric.type=\"${local.log_metric_types.refusals}\" AND resource.type=\"cloud_run_revision\" AND metric.label.\"limit\"=\"daily_tokens\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_budget_refusals_per_hour
      duration        = "0s"

      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [google_logging_metric.refusals]
}

resource "google_monitoring_alert_policy" "key_rejected" {
  count = local.monitoring

  project               = var.project_id
  display_name          = "${var.function_name}: Gemini rejected the function's key"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.function_name}: the Gemini key is refused, every call fails"
    content   = "Gemini refused the key in the ${var.function_name}-gemini-api-key secret (the metric's `reason` label: API_KEY_INVALID, API_KEY_SERVICE_BLOCKED, ACCESS_TOKEN_TYPE_UNSUPPORTED, ...). Callers get 502 until a working key is in the secret. Rotate: create an auth key (AQ.) in Google AI Studio, add it as a new secret version (infra/DEPLOY.md, *Roll a key*). What to do: docs/OPERATING.md, *Gemini key rejected*."
  }

  conditions {
    display_name = "any key rejection in 5 minutes"
    condition_threshold {
      filter          = "metric.type=\"${local.log_metric_types.key_rejections}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }

  depends_on = [google_logging_metric.key_rejections]
}
