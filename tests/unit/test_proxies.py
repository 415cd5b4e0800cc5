"""gemini_gateway.upstream.proxies: which proxy an origin goes through, as curl and httpx read the environment."""

from __future__ import annotations

import pytest

from gemini_gateway.upstream.proxies import Proxies, Proxy, proxy_problems

PROXY = "http://proxy.example.com:3128"


def route(environ: dict[str, str], scheme: str, host: str, port: int = 443) -> Proxy | None:
    return Proxies(environ).for_origin(scheme, host, port)


def test_nothing_set_means_direct() -> None:
    assert not Proxies({}).configured
    assert route({}, "https", "gateway.ai.cloudflare.com") is None


def test_each_scheme_has_its_variable_lower_case_first_all_proxy_last() -> None:
    environ = {"HTTPS_PROXY": PROXY, "http_proxy": "http://lower.example.com:1", "HTTP_PROXY": "http://upper:2"}
    assert route(environ, "https", "a.example.com") == Proxy("HTTPS_PROXY", "proxy.example.com", 3128)
    assert route(environ, "http", "a.example.com", 80) == Proxy("http_proxy", "lower.example.com", 1)
    assert route({"ALL_PROXY": PROXY}, "https", "a.example.com") == Proxy("ALL_PROXY", "proxy.example.com", 3128)
    assert route({"HTTPS_PROXY": "  "}, "https", "a.example.com") is None


def test_a_proxy_url_without_scheme_or_port_and_its_credentials() -> None:
    assert route({"HTTPS_PROXY": "proxy.example.com"}, "https", "x.example.com") == Proxy(
        "HTTPS_PROXY", "proxy.example.com", 80
    )
    found = route({"HTTPS_PROXY": "http://us%3Aer:p%40ss@proxy.example.com:8080/"}, "https", "x.example.com")
    assert found is not None and found.authorization == b"Basic dXM6ZXI6cEBzcw=="  # us:er:p@ss


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "direct"),
    [
        ("*", "anything.example.com", 443, True),
        ("example.com", "example.com", 443, True),
        ("example.com", "api.example.com", 443, True),
        (".example.com", "api.example.com", 443, True),
        ("*.example.com", "api.example.com", 443, True),
        ("example.com", "badexample.com", 443, False),
        ("example.com:8443", "api.example.com", 443, False),
        ("example.com:443", "api.example.com", 443, True),
        ("localhost, 127.0.0.1", "127.0.0.1", 443, True),
        ("10.0.0.0/8", "10.1.2.3", 443, True),
        ("10.0.0.0/8", "11.1.2.3", 443, False),
        ("::1", "::1", 443, True),
        ("[::1]:443", "::1", 443, True),
        ("EXAMPLE.COM", "Api.Example.Com.", 443, True),
        ("other.example.org  example.com", "example.com", 443, True),
        ("", "example.com", 443, False),
    ],
)
def test_no_proxy(no_proxy: str, host: str, port: int, direct: bool) -> None:
    found = route({"HTTPS_PROXY": PROXY, "NO_PROXY": no_proxy}, "https", host, port)
    assert (found is None) is direct


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("socks5://proxy.example.com:1080", "only http:// proxies are supported, not socks5://"),
        ("https://proxy.example.com", "only http:// proxies are supported, not https://"),
        ("http://proxy.example.com:port", "the proxy URL's port is not a number"),
        ("http://", "the proxy URL names no host"),
        ("http://proxy.example.com/path", "the proxy URL must be http://[user:password@]host[:port]"),
    ],
)
def test_a_value_the_pool_cannot_use_is_named_not_skipped(value: str, why: str) -> None:
    assert proxy_problems({"https_proxy": value}) == [("https_proxy", why)]
    found = route({"https_proxy": value}, "https", "x.example.com")
    assert found is not None and found.variable == "https_proxy" and found.problem == why


def test_usable_values_have_no_problems() -> None:
    assert proxy_problems({"HTTPS_PROXY": PROXY, "HTTP_PROXY": "proxy.example.com:8080", "NO_PROXY": "*"}) == []
    assert proxy_problems({}) == []
