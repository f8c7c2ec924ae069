"""The website connector against a real HTTP server on loopback."""

from __future__ import annotations

import http.client
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from docsage.config import Settings
from docsage.errors import ConnectorError
from docsage.ingest.connectors.registry import build_connector
from docsage.ingest.connectors.web import BlockedURLError, WebConnector, check_public_url, normalize_url
from docsage.ingest.documents import ConnectorItem, FetchedDocument, FetchFailure


@dataclass
class Site:
    """An in-memory site: path -> (status, headers, body); `log` records every requested path."""

    pages: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # monotonic arrival time of each logged request
    fail_once: set[str] = field(default_factory=set)
    base: str = ""

    def html(self, path: str, body: str) -> None:
        self.pages[path] = (200, {"Content-Type": "text/html; charset=utf-8"}, body.encode())


@pytest.fixture
def site() -> Iterator[Site]:
    state = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.log.append(self.path)
            state.times.append(time.monotonic())
            if self.path in state.fail_once:
                state.fail_once.discard(self.path)
                status, headers, body = 503, {"Retry-After": "0"}, b"busy"
            else:
                status, headers, body = state.pages.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def docs_site(site: Site) -> None:
    base = site.base
    site.pages["/robots.txt"] = (
        200,
        {"Content-Type": "text/plain"},
        f"User-agent: *\nDisallow: /docs/private/\nSitemap: {base}/sitemap.xml\n".encode(),
    )
    sitemap = "".join(
        f"<url><loc>{base}{path}</loc></url>"
        for path in ["/docs/", "/docs/guide.html", "/docs/private/secret.html", "/blog/post.html"]
    )
    site.pages["/sitemap.xml"] = (
        200,
        {"Content-Type": "application/xml"},
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{sitemap}</urlset>'.encode(),
    )
    site.html(
        "/docs/",
        """<html><head><title>Docs home</title></head><body>
        <a href="guide.html">Guide</a> <a href="old">Old page</a> <a href="missing.html">Gone</a>
        <a href="../blog/post.html">Blog</a> <a href="private/secret.html">Secret</a>
        <a href="mailto:team@example.com">Mail</a> <a href="javascript:void(0)">JS</a>
        <a href="#top">Top</a> <a href="notes.md">Notes</a> <a href="logo.png">Logo</a></body></html>""",
    )
    site.html(
        "/docs/guide.html",
        """<html><head><title>Guide</title></head><body><nav><a href="/docs/">Home</a></nav>
        <main><h1>Guide</h1><p>Install it.</p><a href="hidden.html#part">More</a>
        <a href="guide.html#intro">Self</a></main><footer>© Example</footer></body></html>""",
    )
    site.html("/docs/hidden.html", "<html><head><title>Hidden</title></head><body>Only linked.</body></html>")
    site.pages["/docs/old"] = (301, {"Location": "/docs/new"}, b"")
    site.html("/docs/new", "<html><head><title>New</title></head><body>Moved here.</body></html>")
    site.pages["/docs/notes.md"] = (200, {"Content-Type": "text/markdown"}, b"# Notes\n\nPlain notes.\n")
    site.html("/docs/private/secret.html", "<html><body>secret</body></html>")
    site.html("/blog/post.html", "<html><body>blog</body></html>")


def crawl(
    start: str, *, max_pages: int = 100, allow_private: bool = True, prefix: str | None = None
) -> list[ConnectorItem]:
    connector = WebConnector(
        start,
        max_pages=max_pages,
        allow_private=allow_private,
        concurrency=4,
        timeout_s=5.0,
        user_agent="docsage-test/1.0",
        prefix=prefix,
    )
    return list(connector.iter_documents())


def test_crawl_follows_sitemap_links_robots_and_redirects(site: Site) -> None:
    docs_site(site)
    items = crawl(f"{site.base}/docs/")
    documents = {item.url: item for item in items if isinstance(item, FetchedDocument)}
    failures = {item.url: item for item in items if isinstance(item, FetchFailure)}
    base = site.base

    assert sorted(documents) == [
        f"{base}/docs/",
        f"{base}/docs/guide.html",
        f"{base}/docs/hidden.html",
        f"{base}/docs/new",
        f"{base}/docs/notes.md",
    ]
    assert len([item.url for item in items]) == len({item.url for item in items})
    assert documents[f"{base}/docs/"].title == "Docs home"
    assert documents[f"{base}/docs/"].fmt == "html"
    assert documents[f"{base}/docs/notes.md"].fmt == "markdown"
    assert documents[f"{base}/docs/new"].title == "New"

    secret = failures[f"{base}/docs/private/secret.html"]
    assert secret.skipped and secret.reason == "disallowed by robots.txt"
    missing = failures[f"{base}/docs/missing.html"]
    assert not missing.skipped and "404" in missing.reason
    assert set(failures) == {secret.url, missing.url}

    assert "/docs/private/secret.html" not in site.log
    assert "/blog/post.html" not in site.log
    assert "/docs/logo.png" not in site.log
    assert site.log.count("/docs/guide.html") == 1
    assert site.log.count("/docs/new") == 1


def test_max_pages_caps_documents(site: Site) -> None:
    docs_site(site)
    items = crawl(f"{site.base}/docs/", max_pages=2)
    documents = [item for item in items if isinstance(item, FetchedDocument)]
    assert len(documents) == 2
    assert documents[0].url == f"{site.base}/docs/"


def test_explicit_prefix_narrows_the_crawl(site: Site) -> None:
    docs_site(site)
    site.html("/docs/guide/", '<html><body><a href="/docs/hidden.html">x</a><a href="a.html">a</a></body></html>')
    site.html("/docs/guide/a.html", "<html><body>a</body></html>")
    items = crawl(f"{site.base}/docs/guide/", prefix=f"{site.base}/docs/guide/")
    assert sorted(item.url for item in items) == [f"{site.base}/docs/guide/", f"{site.base}/docs/guide/a.html"]


def test_retries_a_temporary_server_error(site: Site) -> None:
    site.html("/flaky.html", "<html><head><title>Flaky</title></head><body>ok</body></html>")
    site.fail_once.add("/flaky.html")
    items = crawl(f"{site.base}/flaky.html")
    assert [(item.url, type(item)) for item in items] == [(f"{site.base}/flaky.html", FetchedDocument)]
    assert site.log.count("/flaky.html") == 2


@pytest.mark.parametrize(
    ("rule", "pages", "spacing"), [("Request-rate: 4/1", 6, 0.25), ("Crawl-delay: 1", 1, 1.0)], ids=["rate", "delay"]
)
def test_robots_pacing_spaces_requests_even_with_parallel_fetching(
    site: Site, rule: str, pages: int, spacing: float
) -> None:
    """robots.txt pacing holds across the 4 fetch threads: no two requests after robots.txt start closer."""
    site.pages["/robots.txt"] = (200, {"Content-Type": "text/plain"}, f"User-agent: *\n{rule}\n".encode())
    links = "".join(f'<a href="p{i}.html">{i}</a>' for i in range(pages))
    site.html("/docs/", f"<html><body><main><h1>Home</h1><p>Pages: {links}</p></main></body></html>")
    for i in range(pages):
        site.html(f"/docs/p{i}.html", f"<html><body><main><h1>Page {i}</h1><p>Text {i}.</p></main></body></html>")
    items = crawl(f"{site.base}/docs/")
    assert len([i for i in items if isinstance(i, FetchedDocument)]) == pages + 1
    after_robots = site.times[site.log.index("/robots.txt") + 1 :]
    gaps = [b - a for a, b in itertools.pairwise(after_robots)]
    assert len(gaps) >= pages + 1 and min(gaps) >= spacing * 0.9, gaps


def test_redirect_outside_the_prefix_is_not_followed(site: Site) -> None:
    site.html("/docs/", '<html><body><a href="/docs/away">away</a></body></html>')
    site.pages["/docs/away"] = (302, {"Location": "/elsewhere/page.html"}, b"")
    site.html("/elsewhere/page.html", "<html><body>elsewhere</body></html>")
    items = crawl(f"{site.base}/docs/")
    away = next(item for item in items if item.url == f"{site.base}/docs/away")
    assert isinstance(away, FetchFailure) and away.skipped and "outside the crawl prefix" in away.reason
    assert "/elsewhere/page.html" not in site.log


def test_loopback_start_url_needs_allow_private(site: Site) -> None:
    site.html("/docs/", "<html><body>hi</body></html>")
    with pytest.raises(ConnectorError, match="--allow-private"):
        crawl(f"{site.base}/docs/", allow_private=False)
    assert site.log == []


def test_unreachable_start_url_raises() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectorError, match="cannot reach"):
        crawl(f"http://127.0.0.1:{port}/docs/")


def test_missing_start_page_raises(site: Site) -> None:
    with pytest.raises(ConnectorError, match="HTTP 404"):
        crawl(f"{site.base}/nothing/")


@pytest.mark.parametrize(
    "url",
    ["http://10.1.2.3/", "http://[::1]/x", "http://169.254.169.254/latest", "http://0.0.0.0/", "http://224.0.0.1/"],
)
def test_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(BlockedURLError, match="--allow-private"):
        check_public_url(url, allow_private=False)


class RebindingDNS:
    """Plays a hostile DNS server (the one outside piece simulated here): the first lookup of `host` answers a
    public address, every later one 127.0.0.1 — what a short-TTL rebinding domain does. Real lookups of
    anything else go through."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.lookups = 0
        self.real = socket.getaddrinfo

    def __call__(self, host: str | bytes | None, port: object, *args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
        name = host.decode() if isinstance(host, bytes) else host
        if name != self.host:
            return self.real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        self.lookups += 1
        address = "93.184.215.14" if self.lookups == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]  # type: ignore[call-overload]


def test_a_host_that_rebinds_to_loopback_after_the_check_is_never_connected_to(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checking the name and then letting the HTTP client resolve it again would connect to 127.0.0.1 on the
    second answer; the crawler connects only to addresses it checked itself, so the local server is never hit."""
    site.html("/docs/", "<html><body><main><h1>Internal</h1><p>admin secrets</p></main></body></html>")
    port = site.base.rsplit(":", 1)[1]
    dns = RebindingDNS("docs.rebind.example")
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    with pytest.raises(ConnectorError, match=r"127\.0\.0\.1"):
        crawl(f"http://docs.rebind.example:{port}/docs/", allow_private=False)
    assert dns.lookups >= 2, "the connection resolved the name again and was checked"
    assert site.log == [], "the crawler reached the loopback server"


def test_only_http_schemes_are_fetched() -> None:
    with pytest.raises(ConnectorError, match="http"):
        check_public_url("file:///etc/passwd", allow_private=True)
    assert normalize_url("mailto:someone@example.com") is None
    assert normalize_url("HTTP://Example.COM:80/a/b?x=1#frag") == "http://example.com/a/b?x=1"
    assert normalize_url("https://example.com") == "https://example.com/"


def test_registry_builds_the_web_connector(site: Site) -> None:
    site.pages["/docs/raw"] = (200, {"Content-Type": "text/markdown"}, b"# Raw\n")
    site.html("/docs/", '<html><head><title>Home</title></head><body><a href="raw">raw</a></body></html>')
    connector = build_connector("web", f"{site.base}/docs/", {"allow_private": True, "max_pages": 5}, Settings())
    assert isinstance(connector, WebConnector) and connector.max_pages == 5
    items = list(connector.iter_documents())
    assert [(item.url, getattr(item, "fmt", None)) for item in items] == [
        (f"{site.base}/docs/", "html"),
        (f"{site.base}/docs/raw", "markdown"),
    ]
    assert site.log[0] == "/robots.txt"


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::c0a8:101",  # NAT64 of 192.168.1.1
        "64:ff9b:1::808:808",  # local-use NAT64 prefix
        "::127.0.0.1",  # IPv4-compatible
        "::8.8.8.8",
        "::ffff:10.1.2.3",  # IPv4-mapped
        "::ffff:169.254.169.254",
    ],
)
def test_ipv6_wrappers_of_private_ipv4_are_refused(address: str) -> None:
    with pytest.raises(BlockedURLError, match="--allow-private"):
        check_public_url(f"http://[{address}]/", allow_private=False)


@pytest.mark.parametrize("address", ["2002:808:808::1", "64:ff9b::808:808", "::ffff:8.8.8.8", "2606:4700::1111"])
def test_ipv6_forms_of_public_addresses_pass(address: str) -> None:
    check_public_url(f"http://[{address}]/", allow_private=False)


@dataclass
class ForwardProxy:
    """A plain HTTP forward proxy on loopback: it resolves and connects to whatever absolute URL it is asked
    for, as a corporate proxy would. `log` records every request it received."""

    url: str = ""
    log: list[str] = field(default_factory=list)


@pytest.fixture
def forward_proxy() -> Iterator[ForwardProxy]:
    state = ForwardProxy()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.log.append(self.path)
            target = urlsplit(self.path)
            upstream = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=5)
            try:
                upstream.request("GET", target.path or "/", headers={"Host": target.netloc})
                response = upstream.getresponse()
                status, body, kind = response.status, response.read(), response.getheader("Content-Type", "")
            except OSError:
                status, body, kind = 502, b"bad gateway", "text/plain"
            finally:
                upstream.close()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


def proxy_environment(monkeypatch: pytest.MonkeyPatch, proxy: str) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
        monkeypatch.setenv(name.lower(), proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def test_a_proxy_in_the_environment_does_not_bypass_the_address_check(
    site: Site, forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set, the request would go to the proxy, which resolves the rebinding name itself and
    reaches the loopback server; the crawler connects directly instead, and refuses the second answer."""
    site.html("/docs/", "<html><body><main><h1>Internal</h1><p>admin secrets</p></main></body></html>")
    port = site.base.rsplit(":", 1)[1]
    proxy_environment(monkeypatch, forward_proxy.url)
    monkeypatch.setattr(socket, "getaddrinfo", RebindingDNS("docs.rebind.example"))
    with pytest.raises(ConnectorError, match=r"127\.0\.0\.1"):
        crawl(f"http://docs.rebind.example:{port}/docs/", allow_private=False)
    assert forward_proxy.log == [], "the crawler sent its requests through the proxy"
    assert site.log == [], "the crawler reached the loopback server"


def test_a_6to4_address_of_loopback_is_refused_even_with_a_proxy(
    site: Site, forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.html("/docs/", "<html><body>admin secrets</body></html>")
    port = site.base.rsplit(":", 1)[1]
    proxy_environment(monkeypatch, forward_proxy.url)
    with pytest.raises(BlockedURLError, match="2002:7f00:1::"):
        crawl(f"http://[2002:7f00:1::]:{port}/docs/", allow_private=False)
    assert forward_proxy.log == [] and site.log == []


def test_allowed_private_crawls_connect_directly_despite_a_proxy_in_the_environment(
    site: Site, forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.html("/docs/", "<html><head><title>Home</title></head><body>Direct.</body></html>")
    proxy_environment(monkeypatch, forward_proxy.url)
    items = crawl(f"{site.base}/docs/")
    assert [item.url for item in items if isinstance(item, FetchedDocument)] == [f"{site.base}/docs/"]
    assert forward_proxy.log == []
    assert "/docs/" in site.log
