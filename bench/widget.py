"""Widget benchmark: first answer characters on screen in a real Chromium, against the same question's first
streamed message over plain HTTP, measured in this run (issue 5 target: first characters visible ≤ 300 ms after
sending, extractive provider).

Usage: python -m bench.widget [--chunks 10000] [--questions 20]
Needs Debian's chromium (Playwright drives /usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from bench.api import SHARED, free_port, start_server
from docsage.benchmarks import Figure, build_scaled_index
from docsage.config import Settings
from docsage.services import Services

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# When Enter was pressed, and when the newest answer bubble first held text and a frame was then painted.
INSTRUMENT = """() => {
  const log = document.getElementById('docsage-widget').shadowRoot.querySelector('.log');
  const ds = window.__ds = { enterAt: null, shownAt: null, before: 0 };
  ds.reset = () => { ds.enterAt = null; ds.shownAt = null; ds.before = log.querySelectorAll('.msg.bot').length; };
  document.addEventListener('keydown', (e) => { if (e.key === 'Enter') ds.enterAt = performance.now(); }, true);
  new MutationObserver(() => {
    const bots = log.querySelectorAll('.msg.bot');
    const last = bots[bots.length - 1];
    if (ds.enterAt !== null && ds.shownAt === null && bots.length > ds.before
        && !last.classList.contains('typing') && last.textContent.trim().length > 1) {
      ds.shownAt = -1;
      requestAnimationFrame(() => setTimeout(() => { ds.shownAt = performance.now(); }, 0));
    }
  }).observe(log, { childList: true, subtree: true, characterData: true });
}"""


class PageServer(ThreadingHTTPServer):
    """Serves one host page at `/` (its HTML is set once the widget key for its origin exists)."""

    html = b""


def page_server() -> tuple[PageServer, str]:
    class Handler(BaseHTTPRequestHandler):
        server: PageServer

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = self.server.html if self.path == "/" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = PageServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def first_message_ms(client: httpx.Client, url: str, key: str, origin: str, question: str) -> float:
    """Plain HTTP: from sending the question to the first `event: message` of the SSE answer."""
    start = time.perf_counter()
    headers = {"Authorization": f"Bearer {key}", "Origin": origin}
    with client.stream("POST", url, json={"message": question, "stream": True}, headers=headers) as resp:
        seen = ""
        for text in resp.iter_text():
            seen += text
            if "event: message" in seen:
                return (time.perf_counter() - start) * 1000
    raise SystemExit(f"no message event for {question!r}: {seen[-300:]}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=10_000)
    ap.add_argument("--questions", type=int, default=20)
    args = ap.parse_args()
    queries = [json.loads(line)["text"] for line in (SHARED / "queries.jsonl").read_text().splitlines() if line]
    questions = queries[: args.questions]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        services = Services(Settings(home=home))
        project_id, total = build_scaled_index(services, SHARED / "pages", args.chunks, lambda m: None)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        pages, page_origin = page_server()
        key = services.projects.create_key(project_id, "bearer", [page_origin]).secret
        pages.html = (
            "<!doctype html><meta charset=utf-8><title>Docs</title><h1>Docs</h1>"
            f'<script src="{base}/widget.js" data-key="{key}" async></script>'
        ).encode()
        server = start_server(home, port)
        try:
            widget_ms, http_ms = [], []
            with httpx.Client(timeout=60) as client, sync_playwright() as pw:
                first_message_ms(client, f"{base}/api/v1/chat", key, page_origin, "warm up")
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"])
                for question in questions:  # interleaved, so load changes hit both series alike
                    http_ms.append(first_message_ms(client, f"{base}/api/v1/chat", key, page_origin, question))
                    # A fresh visitor each time (new session, like the plain HTTP request), widget already open.
                    context = browser.new_context()
                    page = context.new_page()
                    page.goto(page_origin + "/")
                    page.locator("#docsage-widget .btn").click()
                    page.locator("#docsage-widget textarea").wait_for()
                    page.evaluate(INSTRUMENT)
                    page.evaluate("window.__ds.reset()")
                    page.locator("#docsage-widget textarea").fill(question)
                    page.locator("#docsage-widget textarea").press("Enter")
                    page.wait_for_function("window.__ds.shownAt > 0", timeout=30_000)
                    ds = page.evaluate("({enterAt: window.__ds.enterAt, shownAt: window.__ds.shownAt})")
                    widget_ms.append(ds["shownAt"] - ds["enterAt"])
                    page.locator("#docsage-widget .msg.bot .fb").last.wait_for(timeout=30_000)  # answer complete
                    context.close()
                browser.close()
        finally:
            pages.shutdown()
            server.terminate()
            server.wait(timeout=10)
    p50_widget = statistics.median(widget_ms)
    figures = [
        Figure(
            f"widget: first answer characters on screen p50 ({total:,} chunks)",
            p50_widget,
            "ms",
            "plain HTTP client, first SSE message event",
            statistics.median(http_ms),
        ),
        Figure("widget: first answer characters on screen p50", p50_widget, "ms", "target", 300.0),
    ]
    for f in figures:
        print(f.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
