"""Website connector: crawls a docs site within a URL prefix, honouring robots.txt and sitemaps."""

from __future__ import annotations

import gzip
import io
import ipaddress
import logging
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from posixpath import splitext
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpcore
import httpx

from docsage.errors import ConnectorError
from docsage.ingest.connectors.folder import FORMATS, MAX_FILE_BYTES, looks_binary
from docsage.ingest.documents import ConnectorItem, FetchedDocument, FetchFailure

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
HTML_TYPES = {"text/html", "application/xhtml+xml"}
# For URLs without a telling extension (e.g. `/raw/guide`); the extension wins when there is one.
TYPE_FORMATS = {"text/markdown": "markdown", "text/x-rst": "rst", "text/plain": "text", "application/pdf": "pdf"}
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 5
ATTEMPTS = 3
BACKOFF_S = 0.2
MAX_RETRY_AFTER_S = 10.0
MAX_SITEMAPS = 50
# Links to these are never documents; not requesting them keeps the crawl polite and fast.
SKIP_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".css", ".js", ".mjs", ".map", ".json",
    ".zip", ".gz", ".tgz", ".tar", ".whl", ".exe", ".dmg", ".mp4", ".webm", ".mp3", ".woff", ".woff2", ".ttf",
}  # fmt: skip


class BlockedURLError(ConnectorError):
    """A URL whose host resolves to a loopback, private or otherwise non-public address."""


def normalize_url(url: str) -> str | None:
    """Canonical http(s) URL without fragment or userinfo, or None for anything else (mailto:, bad ports…)."""
    try:
        parts = urlsplit(urldefrag(url.strip())[0])
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in DEFAULT_PORTS or not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def directory_of(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path[: parts.path.rfind("/") + 1] or "/", "", ""))


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# IPv6 forms that never name a public host: Teredo tunnels (2001::/32), the deprecated IPv4-compatible
# addresses (::a.b.c.d) and the local-use NAT64 prefix. (Which of them `ipaddress` calls private depends on
# the Python version, so they are listed here.)
NEVER_PUBLIC_V6 = tuple(map(ipaddress.IPv6Network, ("2001::/32", "::/96", "64:ff9b:1::/48")))
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped (::ffff:a.b.c.d), 6to4 (2002:AABB:CCDD::) or NAT64 (64:ff9b::a.b.c.d)
    address reaches: a relay or gateway connects to it, so it decides whether the address is public."""
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in network for network in NEVER_PUBLIC_V6):
            return False
        if (embedded := _embedded_ipv4(ip)) is not None:
            ip = embedded
    return ip.is_global and not (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified
    )


def public_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, if all of them are public; BlockedURLError if any is not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConnectorError(f"cannot resolve host {host!r}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    for address in addresses:
        if not _is_public(ipaddress.ip_address(address)):
            raise BlockedURLError(
                f"refusing to fetch from {host}: it resolves to the non-public address {address}; "
                "pass --allow-private to index internal or local sites"
            )
    return addresses


def check_public_url(url: str, *, allow_private: bool) -> None:
    """Raise unless `url` is http(s) and, without allow_private, every address of its host is public.

    This is what keeps a crawl configured through the API from reaching internal services (SSRF). It gives
    an early, clear error; the connection itself is guarded again by _PublicOnlyBackend.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme.lower() not in DEFAULT_PORTS or not host:
        raise ConnectorError(f"only http:// and https:// URLs can be fetched, not {url!r}")
    if not allow_private:
        public_addresses(host, parts.port or DEFAULT_PORTS[parts.scheme.lower()])


class _PublicOnlyBackend(httpcore.SyncBackend):
    """Opens TCP connections to public addresses only, resolving the host itself at connect time.

    Checking a URL and then letting httpx resolve the host again leaves a window: a DNS server that answers
    a public address to the check and 127.0.0.1 or 169.254.169.254 to the connection (DNS rebinding) gets
    the crawler into internal services. Here the address checked is the address connected to. TLS is not
    affected: the handshake still verifies the certificate against the URL's host name.
    """

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        error: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in public_addresses(host, port):  # like socket.create_connection: first one that answers
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # public_addresses never returns an empty list without raising
        raise error


@dataclass(frozen=True)
class Page:
    """The final (non-redirect) response to a GET, after redirects and retries."""

    url: str
    status: int
    content_type: str
    body: bytes


HopCheck = Callable[[str], str | None]


class Fetcher:
    """GETs URLs with retries, manual redirects and an SSRF check on every hop; safe to share between threads."""

    def __init__(self, *, allow_private: bool, timeout_s: float, user_agent: str, max_connections: int = 4) -> None:
        self.allow_private = allow_private
        # Direct connections only: through an HTTP(S)_PROXY/ALL_PROXY from the environment, the proxy would
        # resolve and connect on its own, past _PublicOnlyBackend. (SSL_CERT_FILE/SSL_CERT_DIR still apply.)
        transport = httpx.HTTPTransport(limits=httpx.Limits(max_connections=max(1, max_connections)))
        self.client = httpx.Client(
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            timeout=timeout_s,
            headers={"User-Agent": user_agent},
        )
        if not allow_private:
            # httpx has no option for it, so the guarded backend goes onto the transport's connection pool.
            pool = transport._pool
            assert isinstance(pool, httpcore.ConnectionPool), "httpx/httpcore changed: re-check the SSRF guard"
            pool._network_backend = _PublicOnlyBackend()
        self._problems: dict[str, ConnectorError | None] = {}
        self._delays: dict[str, float] = {}  # origin -> seconds between requests (robots.txt Crawl-delay)
        self._next_slot: dict[str, float] = {}  # origin -> monotonic time of its next allowed request
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def pace(self, origin: str, seconds: float) -> None:
        """From now on, start requests to `origin` at least `seconds` apart, however many threads fetch."""
        with self._lock:
            self._delays[origin] = seconds

    def _wait_turn(self, url: str) -> None:
        origin = origin_of(url)
        with self._lock:
            delay = self._delays.get(origin)
            if not delay:
                return
            now = time.monotonic()
            slot = max(now, self._next_slot.get(origin, 0.0))
            self._next_slot[origin] = slot + delay
        if slot > now:
            time.sleep(slot - now)

    def check(self, url: str) -> None:
        """check_public_url, cached per host so a crawl resolves each host once."""
        key = origin_of(url)
        with self._lock:
            known = key in self._problems
            problem = self._problems.get(key)
        if not known:
            try:
                check_public_url(url, allow_private=self.allow_private)
            except ConnectorError as exc:
                problem = exc
            with self._lock:
                self._problems[key] = problem
        if problem is not None:
            raise type(problem)(problem.message)

    def get(self, url: str, *, hop_check: HopCheck | None = None) -> Page | FetchFailure:
        """Follow up to MAX_REDIRECTS redirects; `hop_check` returns why a redirect target is refused, if it is."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                self.check(current)
            except ConnectorError as exc:
                return FetchFailure(url, exc.message, skipped=isinstance(exc, BlockedURLError))
            result = self._request(current)
            if not isinstance(result, tuple):
                return result
            page, location = result
            if page.status not in REDIRECT_STATUSES:
                return page
            target = normalize_url(urljoin(current, location)) if location else None
            if target is None:
                return FetchFailure(url, f"HTTP {page.status} redirect to an unusable location {location!r}")
            refusal = hop_check(target) if hop_check else None
            if refusal:
                return FetchFailure(url, f"redirects to {target}, which is {refusal}", skipped=True)
            current = target
        return FetchFailure(url, f"more than {MAX_REDIRECTS} redirects")

    def _request(self, url: str) -> tuple[Page, str] | FetchFailure:
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            self._wait_turn(url)
            try:
                with self.client.stream("GET", url) as response:
                    status = response.status_code
                    if (status == 429 or status >= 500) and not last:
                        delay = _retry_delay(attempt, response.headers.get("retry-after"))
                        if delay is not None:
                            time.sleep(delay)
                            continue
                    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                    body = b"" if status in REDIRECT_STATUSES else _read_capped(response)
                    if body is None:
                        return FetchFailure(url, f"response is over the {MAX_FILE_BYTES}-byte limit", skipped=True)
                    return Page(url, status, content_type, body), response.headers.get("location", "")
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if last:
                    return FetchFailure(url, f"{type(exc).__name__}: {exc}")
                time.sleep(BACKOFF_S * 2.0**attempt)
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
                return FetchFailure(url, f"{type(exc).__name__}: {exc}")
            except ConnectorError as exc:  # refused at connect time by _PublicOnlyBackend
                return FetchFailure(url, exc.message, skipped=isinstance(exc, BlockedURLError))
        raise AssertionError("unreachable: the last attempt always returns")


def _retry_delay(attempt: int, retry_after: str | None) -> float | None:
    """Backoff before the next attempt, or None when the server asks for a wait too long to be worth it."""
    delay = BACKOFF_S * 2.0**attempt
    if not retry_after:
        return delay
    try:
        wanted = float(retry_after)
    except ValueError:
        try:
            wanted = parsedate_to_datetime(retry_after).timestamp() - time.time()
        except (TypeError, ValueError):
            return delay
    return max(delay, wanted) if wanted <= MAX_RETRY_AFTER_S else None


def _read_capped(response: httpx.Response) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def parse_sitemap(data: bytes) -> tuple[list[str], list[str]]:
    """(page URLs, child sitemap URLs) of a urlset or sitemapindex document, gzipped or not."""
    if data[:2] == b"\x1f\x8b":
        # Read one byte past the cap so a gzip bomb is refused instead of inflated.
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
            data = unzipped.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ValueError(f"uncompressed sitemap is over the {MAX_FILE_BYTES}-byte limit")
    root = ET.fromstring(data)
    locs = [el.text.strip() for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "loc" and el.text and el.text.strip()]
    if root.tag.rsplit("}", 1)[-1] == "sitemapindex":
        return [], locs
    return locs, []


def extract_html(body: bytes, url: str) -> tuple[str, list[str]]:
    """The <title> text and the absolute, normalised targets of the page's <a href> links."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body, "lxml")
    title = " ".join(str(soup.title.get_text(" ")).split()) if soup.title else ""
    base_tag = soup.find("base", href=True)
    base = urljoin(url, str(base_tag["href"])) if base_tag else url
    links: list[str] = []
    for anchor in soup.find_all("a", href=True):
        link = normalize_url(urljoin(base, str(anchor["href"])))
        if link and splitext(urlsplit(link).path)[1].lower() not in SKIP_EXTENSIONS:
            links.append(link)
    return title, links


class WebConnector:
    """Crawls breadth-first from `start_url`, seeded by the sitemaps; yields each page once, in a stable order."""

    def __init__(
        self,
        start_url: str,
        *,
        max_pages: int,
        allow_private: bool,
        concurrency: int,
        timeout_s: float,
        user_agent: str,
        prefix: str | None = None,
    ) -> None:
        self.start_url = start_url
        self.max_pages = max_pages
        self.allow_private = allow_private
        self.concurrency = max(1, concurrency)
        self.timeout_s = timeout_s
        self.user_agent = user_agent
        self.prefix = prefix
        self._robots: dict[str, RobotFileParser] = {}
        self._robots_lock = threading.Lock()

    def iter_documents(self) -> Iterator[ConnectorItem]:
        start = normalize_url(self.start_url)
        if start is None:
            raise ConnectorError(f"not an http(s) URL: {self.start_url!r}")
        fetcher = Fetcher(
            allow_private=self.allow_private,
            timeout_s=self.timeout_s,
            user_agent=self.user_agent,
            max_connections=self.concurrency,
        )
        with closing(fetcher):
            fetcher.check(start)
            if not self._robots_for(fetcher, start).can_fetch(self.user_agent, start):
                raise ConnectorError(f"robots.txt disallows the start URL {start} for {self.user_agent!r}")
            first = fetcher.get(start)
            if isinstance(first, FetchFailure):
                raise ConnectorError(f"cannot fetch the start URL {start}: {first.reason}")
            if not 200 <= first.status < 300:
                raise ConnectorError(f"cannot fetch the start URL {start}: HTTP {first.status}")
            prefix = self.prefix or directory_of(first.url)
            self._robots_for(fetcher, first.url)
            yield from self._crawl(fetcher, start, first, prefix)

    def _crawl(self, fetcher: Fetcher, start: str, first: Page, prefix: str) -> Iterator[ConnectorItem]:
        seen = {start, first.url}
        yielded: set[str] = set()
        budget = self.max_pages

        def admit(url: str, into: list[str]) -> FetchFailure | None:
            if url in seen or not url.startswith(prefix):
                return None
            seen.add(url)
            if not self._robots_for(fetcher, url).can_fetch(self.user_agent, url):
                return FetchFailure(url, "disallowed by robots.txt", skipped=True)
            into.append(url)
            return None

        def hop_check(url: str) -> str | None:
            if not url.startswith(prefix):
                return f"outside the crawl prefix {prefix}"
            if not self._robots_for(fetcher, url).can_fetch(self.user_agent, url):
                return "disallowed by robots.txt"
            return None

        def emit(requested: str, result: Page | FetchFailure, into: list[str]) -> Iterator[ConnectorItem]:
            nonlocal budget
            item, links = self._to_item(requested, result)
            if item.url not in yielded and (isinstance(item, FetchFailure) or budget > 0):
                yielded.add(item.url)
                seen.add(item.url)
                if isinstance(item, FetchedDocument):
                    budget -= 1
                yield item
            for link in links:
                refusal = admit(link, into)
                if refusal is not None and refusal.url not in yielded:
                    yielded.add(refusal.url)
                    yield refusal

        wave: list[str] = []
        for url in self._sitemap_urls(fetcher, first.url):
            if (refusal := admit(url, wave)) is not None:
                yielded.add(refusal.url)
                yield refusal
        yield from emit(start, first, wave)
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="docsage-crawl")
        try:
            while wave and budget > 0:
                wave.sort()
                next_wave: list[str] = []
                while wave and budget > 0:
                    # A batch never exceeds the remaining budget, so max_pages holds without over-fetching.
                    batch, wave = wave[:budget], wave[budget:]
                    results = pool.map(lambda url: fetcher.get(url, hop_check=hop_check), batch)
                    for url, result in zip(batch, results, strict=True):
                        yield from emit(url, result, next_wave)
                wave = next_wave
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _to_item(self, requested: str, result: Page | FetchFailure) -> tuple[ConnectorItem, list[str]]:
        if isinstance(result, FetchFailure):
            return result, []
        if not 200 <= result.status < 300:
            return FetchFailure(requested, f"HTTP {result.status}"), []
        extension = splitext(urlsplit(result.url).path)[1].lower()
        if result.content_type in HTML_TYPES or (not result.content_type and FORMATS.get(extension) == "html"):
            title, links = extract_html(result.body, result.url)
            return FetchedDocument(url=result.url, raw=result.body, fmt="html", title=title), links
        fmt = FORMATS.get(extension) or TYPE_FORMATS.get(result.content_type)
        if fmt is None or fmt == "html":
            return FetchFailure(requested, f"unsupported content type {result.content_type or 'unknown'}", True), []
        if fmt != "pdf":
            if looks_binary(result.body):
                return FetchFailure(requested, "binary content in a text file", skipped=True), []
            try:
                result.body.decode("utf-8")
            except UnicodeDecodeError:
                return FetchFailure(requested, "not valid UTF-8 text", skipped=True), []
        return FetchedDocument(url=result.url, raw=result.body, fmt=fmt), []

    def _robots_for(self, fetcher: Fetcher, url: str) -> RobotFileParser:
        """The origin's robots.txt rules, fetched once; a missing file (4xx) allows everything."""
        origin = origin_of(url)
        with self._robots_lock:
            if origin in self._robots:
                return self._robots[origin]
            robots_url = f"{origin}/robots.txt"
            result = fetcher.get(robots_url)
            parser = RobotFileParser(robots_url)
            if isinstance(result, FetchFailure):
                raise ConnectorError(f"cannot reach {origin}: {result.reason}")
            if result.status >= 500:
                # RFC 9309: a server error on robots.txt means the site may not be crawled at all.
                raise ConnectorError(f"{robots_url} answered HTTP {result.status}; not crawling {origin}")
            lines = result.body.decode("utf-8", "replace").splitlines() if 200 <= result.status < 300 else []
            parser.parse(lines)
            rate = parser.request_rate(self.user_agent)
            delay = max(
                float(parser.crawl_delay(self.user_agent) or 0),
                rate.seconds / rate.requests if rate and rate.requests else 0.0,
            )
            if delay > 0:
                log.info("%s asks for %.1f s between requests: honoured", robots_url, delay)
                fetcher.pace(origin, delay)
            self._robots[origin] = parser
            return parser

    def _sitemap_urls(self, fetcher: Fetcher, site_url: str) -> list[str]:
        robots = self._robots_for(fetcher, site_url)
        pending = [*(robots.site_maps() or []), f"{origin_of(site_url)}/sitemap.xml"]
        done: set[str] = set()
        pages: list[str] = []
        while pending and len(done) < MAX_SITEMAPS:
            sitemap = normalize_url(pending.pop(0))
            if sitemap is None or sitemap in done:
                continue
            done.add(sitemap)
            result = fetcher.get(sitemap)
            if isinstance(result, FetchFailure):
                log.warning("sitemap %s not fetched: %s", sitemap, result.reason)
                continue
            if not 200 <= result.status < 300:
                if result.status not in (404, 410):
                    log.warning("sitemap %s answered HTTP %s", sitemap, result.status)
                continue
            try:
                urls, children = parse_sitemap(result.body)
            except (ET.ParseError, OSError, EOFError, ValueError) as exc:
                log.warning("sitemap %s is not valid XML: %s", sitemap, exc)
                continue
            pending.extend(children)
            pages.extend(url for url in map(normalize_url, urls) if url)
        return pages
