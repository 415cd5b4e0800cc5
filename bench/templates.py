"""Server prompt templates: what a template costs per request next to `POST /`, and at start.

1. **Render, in process** — the work between a parsed body and the upstream
   bytes, per request (median of N, µs): `POST /` (strict model, Gemini body,
   JSON) and `POST /v1/templates/summarize` (the template's strict model,
   inputs checked against its schema, Dotprompt render, the same Gemini body),
   for the same prompt, system instruction and JSON schema.
2. **CPU per request, over HTTP** — one function instance serving the
   example templates (``PROMPTS_DIR=prompts/examples``), instant upstream,
   closed loop at c=16: server CPU ms per request and p50 for `POST /` and for
   the template, interleaved rounds.
3. **Cold start** — time from ``Popen`` to the first ``200`` to ``POST /`` (as
   bench/instance.py measures it), interleaved rounds after a discarded
   warm-up: the hello world, the function with no template, and the function
   with 10 templates (the start parses, compiles and checks all ten, and
   imports Dotprompt and jsonschema).

    python bench/templates.py            # ~2 minutes on 2 cores
    python bench/templates.py --quick    # fewer rounds and requests (~1 minute)

Raw numbers: ``bench/results/templates.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.callers import _time_sync  # noqa: E402
from bench.harness import LOGS, RESULTS, log, stop_group  # noqa: E402
from bench.instance import Variant, cold_start_once, make_variants, start_variant, tree_cpu_meter  # noqa: E402
from bench.load import merge, run_load_sync  # noqa: E402
from bench.run import start_emulator  # noqa: E402
from tests.support.processes import Server  # noqa: E402

EXAMPLES = ROOT / "prompts" / "examples"
INPUTS = {"ticket": "The app crashes when I open the settings page on my phone since the last update."}
TEMPLATE_BODY = {"inputs": INPUTS}


def generate_body() -> dict[str, Any]:
    """The `POST /` body that asks what the `summarize` example asks (same system, prompt and schema)."""
    from gemini_gateway.templates.library import read_templates

    (summarize,) = [t for t in read_templates(EXAMPLES, "prompts/examples", 2000)[0] if t.id == "summarize"]
    schema = summarize.fields["response_format"].schema_
    return {
        "system": "You triage customer support tickets. Write in English. Answer with the JSON object asked for "
        "and nothing else.",
        "prompt": f"Triage this ticket:\n\n{INPUTS['ticket']}",
        "temperature": 0.2,
        "response_format": {"type": "json", "schema": schema},
    }


def _median_us(work: Callable[[], object], count: int) -> float:
    return 1000 * _time_sync(work, count)["p50_ms"]


def section_render(count: int) -> dict[str, Any]:
    """µs per request from parsed JSON bytes to the upstream body, for POST / and for the template."""
    import orjson

    from gemini_gateway.chat.gemini_body import to_gemini_body
    from gemini_gateway.chat.models import GenerateRequest
    from gemini_gateway.json_body import parse_json, validate
    from gemini_gateway.templates.library import read_templates
    from gemini_gateway.templates.models import for_template
    from gemini_gateway.templates.render import to_request

    (summarize,) = [t for t in read_templates(EXAMPLES, "prompts/examples", 2000)[0] if t.id == "summarize"]
    schema = for_template(summarize)
    generate = json.dumps(generate_body()).encode()
    template = json.dumps(TEMPLATE_BODY).encode()

    def post_root() -> bytes:
        req = validate(GenerateRequest, parse_json(generate))
        return orjson.dumps(to_gemini_body(req, max_output_tokens=8192))

    def post_template() -> bytes:
        req = validate(schema, parse_json(template))
        rendered = to_request(summarize, req.inputs, req.history, req.stream)
        return orjson.dumps(to_gemini_body(rendered, max_output_tokens=8192))

    assert json.loads(post_root())["systemInstruction"] == json.loads(post_template())["systemInstruction"]

    def render_only() -> object:
        return summarize.source.render(INPUTS)

    out = {
        "count": count,
        "post_root_us": _median_us(post_root, count),
        "post_template_us": _median_us(post_template, count),
        "dotprompt_render_us": _median_us(render_only, count),
        "inputs_check_us": _median_us(lambda: summarize.inputs.problems(INPUTS), count),
    }
    out["template_added_us"] = out["post_template_us"] - out["post_root_us"]
    return out


def section_cpu(function: Server, count: int, rounds: int) -> dict[str, Any]:
    """Server CPU ms per request and p50, POST / against the template, interleaved."""
    paths = {
        "POST /": (function.url + "/", generate_body()),
        "POST /v1/templates/summarize": (function.url + "/v1/templates/summarize", TEMPLATE_BODY),
    }
    runs: dict[str, list[Any]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    for r in range(rounds):
        for name, (url, body) in paths.items():
            run_load_sync(url, body, count=64, concurrency=16, warmup=0)
            with tree_cpu_meter({"function": function.proc.pid}) as window:
                res = run_load_sync(url, body, count=count // rounds, concurrency=16, warmup=0)
            if res.ok != res.count:
                raise RuntimeError(f"{name}: {res.errors} errors, e.g. {res.error_samples[:1]}")
            runs[name].append(res)
            cpu[name].append(window.report()["cpu_s"]["function"])
            log(f"  round {r + 1}/{rounds} {name:30s} {res.line()}")
    out: dict[str, Any] = {"count": count, "concurrency": 16, "rounds": rounds}
    for name in paths:
        pooled = merge(runs[name])
        out[name] = {
            "p50_ms": pooled.p50_ms,
            "rps": pooled.rps,
            "server_cpu_ms_per_request": 1000 * sum(cpu[name]) / pooled.ok,
        }
    root, tpl = out["POST /"], out["POST /v1/templates/summarize"]
    out["template_added_cpu_ms"] = tpl["server_cpu_ms_per_request"] - root["server_cpu_ms_per_request"]
    out["template_added_p50_ms"] = tpl["p50_ms"] - root["p50_ms"]
    return out


def ten_templates(directory: Path) -> Path:
    """10 templates: the two examples, each five times under other ids."""
    for i in range(5):
        for example in ("summarize", "support_chat"):
            shutil.copy(EXAMPLES / f"{example}.prompt", directory / f"{example}_{i}.prompt")
    return directory


def section_cold(variants: dict[str, Variant], rounds: int) -> dict[str, Any]:
    runs: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds + 1):
        for name, variant in variants.items():
            res = cold_start_once(variant, f"templates-{name.replace(' ', '-')}-{r}")
            if r > 0:
                runs[name].append(1000 * res["first_200_s"])
                cpu[name].append(1000 * res["server_cpu_s"])
            label = "warm-up (discarded)" if r == 0 else f"round {r}/{rounds}"
            log(f"  {label:20s} {name:24s} first 200 after {1000 * res['first_200_s']:7.1f} ms")
            time.sleep(0.2)
    out: dict[str, Any] = {"rounds": rounds}
    for name in variants:
        out[name] = {
            "median_ms": statistics.median(runs[name]),
            "min_ms": min(runs[name]),
            "server_cpu_median_ms": statistics.median(cpu[name]),
        }
    base, many = out["function, 0 templates"], out["function, 10 templates"]
    out["ten_templates_added_ms"] = many["median_ms"] - base["median_ms"]
    out["ten_templates_added_cpu_ms"] = many["server_cpu_median_ms"] - base["server_cpu_median_ms"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 cold-start rounds, 1,000 requests per path")
    parser.add_argument("--out", type=Path, default=RESULTS / "templates.json")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else 5
    count = 1000 if args.quick else 3000
    LOGS.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"quick": args.quick, "loadavg_before": os.getloadavg()}

    log(f"1. render, in process: median of {count * 5} per path")
    res["render"] = section_render(count * 5)
    rd = res["render"]
    log(
        f"  POST / {rd['post_root_us']:.0f} µs, template {rd['post_template_us']:.0f} µs "
        f"(+{rd['template_added_us']:.0f} µs: inputs {rd['inputs_check_us']:.0f}, Dotprompt {rd['dotprompt_render_us']:.0f})"
    )
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="bench-prompts-") as tmp:
        try:
            emulator = start_emulator()
            servers.append(emulator)
            base = make_variants(ROOT, emulator.url, "127.0.0.1:1")
            empty = Path(tmp) / "none"
            empty.mkdir()
            function = base["function"]
            variants = {
                "hello": base["hello"],
                "function, 0 templates": Variant(
                    "function-0", ROOT, "main.py", function.env | {"PROMPTS_DIR": str(empty)}
                ),
                "function, 10 templates": Variant(
                    "function-10", ROOT, "main.py", function.env | {"PROMPTS_DIR": str(ten_templates(Path(tmp)))}
                ),
            }
            log(f"2. CPU per request: instant upstream, c=16, {count} requests per path")
            examples = start_variant(
                Variant("function-examples", ROOT, "main.py", function.env | {"PROMPTS_DIR": str(EXAMPLES)}), "examples"
            )
            servers.append(examples)
            res["cpu"] = section_cpu(examples, count, 2)
            stop_group(examples.proc)
            log(f"3. cold start: {' / '.join(variants)}, 1 warm-up round + {rounds} rounds, interleaved")
            res["cold_start"] = section_cold(variants, rounds)
        finally:
            for server in reversed(servers):
                stop_group(server.proc)
    res["loadavg_after"] = os.getloadavg()
    cpu, cold = res["cpu"], res["cold_start"]
    log(
        f"\nper request: template +{rd['template_added_us']:.0f} µs in process, "
        f"+{cpu['template_added_cpu_ms']:.3f} ms server CPU, p50 +{cpu['template_added_p50_ms']:.2f} ms over HTTP\n"
        f"cold start: hello {cold['hello']['median_ms']:.0f} ms, 0 templates {cold['function, 0 templates']['median_ms']:.0f} ms, "
        f"10 templates {cold['function, 10 templates']['median_ms']:.0f} ms (+{cold['ten_templates_added_ms']:.0f} ms, "
        f"+{cold['ten_templates_added_cpu_ms']:.0f} ms CPU); load average {res['loadavg_before'][0]:.1f} before, "
        f"{res['loadavg_after'][0]:.1f} after (2 cores: above ~1, other processes share them)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
