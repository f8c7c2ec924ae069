"""The admin dashboard end to end: a real `docsage serve`, real data made through the Kapa API, headless Chromium.

One module-wide setup builds a home through the installed CLI (project, the Skyloom manual as a folder source,
an admin account, an X-API-KEY key), starts the server and asks six questions from six users through
/query/v1 (three answerable, three off-topic ones that come back uncertain, two of them about CSV export),
then votes on three answers. A second project, "Lab", holds input that is awkward for HTML, URLs and SQL
LIKE: a source named "Guides & API #2" and questions such as "<!--<script>" and "Does 100% of my data sync?".
The tests drive the dashboard as an admin would, in Chromium.

Every chat a test makes is written into `Dashboard.chats`, so the analytics test can check exact numbers
whatever subset of tests ran before it.

`DOCSAGE_UPDATE_SCREENSHOTS=1` makes the screenshot test (re)write docs/analytics.png; otherwise it writes
to a temporary folder, so a normal run leaves the work tree alone.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from conftest import Cli, LiveServer, serve, write_docs

VIEWPORT = {"width": 1200, "height": 900}
UNLIMITED = {"DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "0", "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "0"}
COOKIE = "docsage_admin"
ADMIN, PASSWORD = "admin", "correct horse battery"
SOURCE_NAME = "skyloom-manual"
WIDGET_ORIGIN = "https://docs.skyloom.example"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "analytics.png"
# Flagged by a wide margin on any CPU (tests/retrieval/test_coverage.py checks it): few of their words are in the
# manual.
CSV_QUESTIONS = ("How do I export to CSV?", "How do I export my files to CSV?")

# (question, user email, whether the manual answers it)
QUESTIONS = [
    ("How do I install the Skyloom CLI?", "alice@example.com", True),
    ("What happens when I exceed the rate limit?", "bob@example.com", True),
    ("How do I verify webhook signatures?", "carol@example.com", True),
    (CSV_QUESTIONS[0], "dave@example.com", False),
    (CSV_QUESTIONS[1], "erin@example.com", False),
    ("What is the best pizza topping?", "frank@example.com", False),
]
# (question, reaction) through POST /query/v1/feedback/upsert/
VOTES = [
    ("How do I install the Skyloom CLI?", "upvote"),
    ("How do I verify webhook signatures?", "upvote"),
    (CSV_QUESTIONS[0], "downvote"),
]

# A page added to the docs folder before the re-ingest test; the phrase occurs nowhere else in the manual.
NEW_PAGE = "snapshots.md"
NEW_PHRASE = "Skyloom keeps 45 nightly vault snapshots"
NEW_PAGE_BODY = f"""\
# Vault snapshots

{NEW_PHRASE} in the archive tier. Restore one with `skyloom snapshot restore --date 2024-05-01`;
restoring never overwrites newer files, it puts the old versions next to them.
"""

# Project "Lab" (its one source not ingested) holds input that is awkward for HTML, URLs and SQL LIKE.
ODD_SOURCE = "Guides & API #2"
MARKUP_QUESTION = "<!--<script>"
LAB_QUESTIONS = [MARKUP_QUESTION, "Does 100% of my data sync?", "What is the best pizza topping?"]


@dataclass
class Chat:
    question: str
    qa_id: str
    uncertain: bool
    email: str | None


@dataclass
class Dashboard:
    cli: Cli
    docs: Path
    server: LiveServer
    project: str
    kapa_key: str
    lab: str
    chats: list[Chat] = field(default_factory=list)  # every chat made against the project, in order

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def kapa(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"X-API-KEY": self.kapa_key}, timeout=60)

    def qa_id(self, question: str) -> str:
        return next(c.qa_id for c in self.chats if c.question == question)


def _created(cli: Cli, *args: str) -> None:
    result = cli(*args)
    assert result.returncode == 0, f"docsage {args} failed: {result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    root = tmp_path_factory.mktemp("admin")
    home = root / "home"
    home.mkdir()
    docs = write_docs(root)
    cli = Cli(home)
    project = cli.json("project", "create", "--name", "Skyloom")["id"]

    def add_and_ingest() -> None:
        cli.json("source", "add", "--project", project, "--type", "folder", "--path", docs, "--name", SOURCE_NAME)
        _created(cli, "ingest", "--project", project)

    lab_docs = root / "lab-docs"
    lab_docs.mkdir()
    (lab_docs / "notes.md").write_text("# Notes\n\nNothing to see here yet.\n", encoding="utf-8")

    with ThreadPoolExecutor(max_workers=4) as pool:  # each CLI call is its own process
        lab = pool.submit(cli.json, "project", "create", "--name", "Lab")
        ingest = pool.submit(add_and_ingest)
        key = pool.submit(cli.json, "key", "create", "--project", project)
        user = pool.submit(_created, cli, "admin", "create-user", "--username", ADMIN, "--password", PASSWORD)
        lab_id = lab.result()["id"]
        lab_key = pool.submit(cli.json, "key", "create", "--project", lab_id)
        lab_source = pool.submit(
            cli.json, "source", "add", "--project", lab_id, "--type", "folder", "--path", lab_docs, "--name", ODD_SOURCE
        )
        for future in (ingest, user, lab_source):
            future.result()
        kapa_key, lab_key = key.result()["key"], lab_key.result()["key"]

    with serve(home, UNLIMITED) as server:
        setup = Dashboard(cli, docs, server, project, kapa_key, lab_id)
        with httpx.Client(base_url=server.base_url, headers={"X-API-KEY": lab_key}, timeout=60) as client:
            for question in LAB_QUESTIONS:
                resp = client.post(f"/query/v1/projects/{lab_id}/chat/", json={"query": question})
                assert resp.status_code == 200, resp.text
        with setup.kapa() as client:
            for question, email, answerable in QUESTIONS:
                resp = client.post(
                    f"/query/v1/projects/{project}/chat/", json={"query": question, "user": {"email": email}}
                )
                assert resp.status_code == 200, resp.text
                body = resp.json()
                setup.chats.append(Chat(question, body["question_answer_id"], body["is_uncertain"], email))
                assert body["is_uncertain"] is (not answerable), f"precondition: {question!r} → {body}"
            for question, reaction in VOTES:
                resp = client.post(
                    "/query/v1/feedback/upsert/",
                    json={"question_answer": setup.qa_id(question), "user_identifier": "voter", "reaction": reaction},
                )
                assert resp.status_code == 201, resp.text
        yield setup


@pytest.fixture
def context(browser: Browser, dash: Dashboard) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=dash.base_url, viewport=VIEWPORT)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def submit_login(page: Page, password: str) -> None:
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


@pytest.fixture
def admin(page: Page) -> Page:
    """A page logged in to the dashboard through the login form."""
    page.goto("/admin/login")
    submit_login(page, PASSWORD)
    assert urlparse(page.url).path == "/admin", page.url
    return page


def path_of(page: Page) -> str:
    return urlparse(page.url).path


def session_cookies(context: BrowserContext) -> list[dict[str, Any]]:
    return [dict(c) for c in context.cookies() if c["name"] == COOKIE]


def source_cells(page: Page) -> tuple[str, str]:
    """(document count, last-ingest text) of the folder source's row on the sources page."""
    row = page.get_by_role("row").filter(has_text=SOURCE_NAME)
    expect(row).to_have_count(1)
    cells = row.get_by_role("cell")
    return cells.nth(3).inner_text().strip(), cells.nth(4).inner_text().strip()


def bearer_chat(dash: Dashboard, secret: str, question: str, **headers: str) -> httpx.Response:
    resp = httpx.post(
        f"{dash.base_url}/api/v1/chat",
        json={"message": question},
        headers={"Authorization": f"Bearer {secret}", **headers},
        timeout=60,
    )
    if resp.status_code == 200:
        body = resp.json()
        dash.chats.append(Chat(question, body["message_id"], body["is_uncertain"], None))
    return resp


# --- 1. login --------------------------------------------------------------------------------------------------


def test_login_required_wrong_password_then_projects(page: Page, context: BrowserContext, dash: Dashboard) -> None:
    page.goto("/admin")
    assert path_of(page) == "/admin/login", "an anonymous visit to /admin must land on the login page"
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.goto(f"/admin/projects/{dash.project}/keys")
    assert path_of(page) == "/admin/login", "project pages need a login too"

    submit_login(page, "not the password")
    assert path_of(page) == "/admin/login"
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    assert session_cookies(context) == [], "a failed login must not set the session cookie"
    page.goto("/admin")
    assert path_of(page) == "/admin/login"

    submit_login(page, PASSWORD)
    assert path_of(page) == "/admin"
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    link = page.get_by_role("link", name="Skyloom", exact=True)
    expect(link).to_have_attribute("href", f"/admin/projects/{dash.project}")
    expect(page.get_by_role("row").filter(has_text=dash.project)).to_have_count(1)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    [cookie] = session_cookies(context)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/admin"
    assert page.evaluate("document.cookie") == "", "the session cookie must not be readable from scripts"


def test_logout_ends_the_session(admin: Page, context: BrowserContext, dash: Dashboard) -> None:
    page = admin
    [cookie] = session_cookies(context)
    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()
    assert path_of(page) == "/admin/login"
    assert session_cookies(context) == []
    page.goto("/admin")
    assert path_of(page) == "/admin/login"
    # The old token is dead on the server too, not only forgotten by the browser.
    replay = httpx.get(f"{dash.base_url}/admin", cookies={COOKIE: cookie["value"]}, follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"] == "/admin/login"


# --- 2. sources and re-ingest ----------------------------------------------------------------------------------


def test_reingest_picks_up_a_new_file(admin: Page, dash: Dashboard) -> None:
    page = admin
    page.get_by_role("link", name="Skyloom", exact=True).click()
    assert path_of(page) == f"/admin/projects/{dash.project}"
    documents, status = source_cells(page)
    assert documents == str(len(list(dash.docs.iterdir())))
    assert status.startswith("succeeded"), status

    (dash.docs / NEW_PAGE).write_text(NEW_PAGE_BODY, encoding="utf-8")
    row = page.get_by_role("row").filter(has_text=SOURCE_NAME)
    with page.expect_navigation():
        row.get_by_role("button", name="Re-ingest").click()
    expect(page.get_by_role("status")).to_contain_text(f"Re-ingest of {SOURCE_NAME} queued")

    deadline = time.monotonic() + 30
    while True:
        after = source_cells(page)
        if after[0] == str(int(documents) + 1) and after[1].startswith("succeeded") and after[1] != status:
            break
        assert time.monotonic() < deadline, f"re-ingest did not finish within 30 s: {after} (before: {status})"
        time.sleep(0.5)
        page.reload()

    with dash.kapa() as client:
        resp = client.post(
            f"/query/v1/projects/{dash.project}/retrieval/", json={"query": "How many nightly vault snapshots?"}
        )
    assert resp.status_code == 200, resp.text
    hits = resp.json()
    assert hits, "retrieval returned nothing"
    assert hits[0]["source_url"] == (dash.docs / NEW_PAGE).resolve().as_uri(), [h["source_url"] for h in hits]
    assert NEW_PHRASE in hits[0]["content"]


def test_reingest_message_names_a_source_with_url_characters(admin: Page, dash: Dashboard) -> None:
    """The flash message after Re-ingest travels in the redirect's query string: `&` and `#` must survive it."""
    page = admin
    page.goto(f"/admin/projects/{dash.lab}")
    row = page.get_by_role("row").filter(has_text=ODD_SOURCE)
    expect(row).to_have_count(1)
    with page.expect_navigation():
        row.get_by_role("button", name="Re-ingest").click()
    assert page.get_by_role("status").inner_text().strip() in (
        f"Re-ingest of {ODD_SOURCE} queued.",
        f"Re-ingest of {ODD_SOURCE} already running.",
    )


def test_sources_page_shows_each_refresh_schedule(admin: Page, dash: Dashboard) -> None:
    page = admin
    page.goto(f"/admin/projects/{dash.project}")
    row = page.get_by_role("row").filter(has_text=SOURCE_NAME)
    expect(row.get_by_test_id("refresh")).to_have_text("off")
    [odd] = dash.cli.json("source", "list", "--project", dash.lab)
    dash.cli.json("source", "update", odd["id"], "--refresh", "6h")
    page.goto(f"/admin/projects/{dash.lab}")
    cell = page.get_by_role("row").filter(has_text=ODD_SOURCE).get_by_test_id("refresh")
    expect(cell).to_contain_text("every 6h")
    expect(cell).to_contain_text(re.compile(r"next \d{4}-\d\d-\d\d \d\d:\d\d UTC"))


# --- 3. keys ---------------------------------------------------------------------------------------------------


def create_key_through_form(page: Page, dash: Dashboard, name: str) -> str:
    """Fill and submit the keys page's create form (bearer, one allowed origin); return the secret shown."""
    page.goto(f"/admin/projects/{dash.project}/keys")
    expect(page.get_by_test_id("new-key")).to_have_count(0)
    form = page.locator("form").filter(has=page.get_by_role("button", name="Create key"))
    form.get_by_label("Name").fill(name)
    form.get_by_label("Scheme").select_option("bearer")
    form.get_by_label("Allowed origins").fill(WIDGET_ORIGIN)
    with page.expect_navigation():
        form.get_by_role("button", name="Create key").click()
    shown = page.get_by_test_id("new-key")
    expect(shown).to_be_visible()
    secret = shown.inner_text().strip()
    assert len(secret) >= 20 and " " not in secret, secret
    return secret


def key_count(dash: Dashboard) -> int:
    return len(dash.cli.json("key", "list", "--project", dash.project))


def test_create_bearer_key_use_it_then_revoke(admin: Page, dash: Dashboard) -> None:
    page = admin
    secret = create_key_through_form(page, dash, "docs-widget")
    row = page.get_by_role("row").filter(has_text="docs-widget")
    expect(row).to_have_count(1)
    cells = row.get_by_role("cell")
    expect(cells.nth(1)).to_have_text("bearer public")  # it has allowed origins: it goes into web pages
    prefix = cells.nth(2).inner_text().strip().rstrip("…")
    assert prefix and secret.startswith(prefix), (prefix, secret)
    expect(cells.nth(3)).to_have_text(WIDGET_ORIGIN)
    assert scopes_ticked(row) == ["chat", "feedback"]
    expect(cells.nth(6)).to_have_text("active")

    # The secret works for the chatbot API: server-side (no Origin) and from the allowed origin only.
    resp = bearer_chat(dash, secret, "How do I upgrade Skyloom?")
    assert resp.status_code == 200, resp.text
    assert resp.json()["success"] is True and resp.json()["answer"]
    assert bearer_chat(dash, secret, "How do I upgrade Skyloom?", Origin=WIDGET_ORIGIN).status_code == 200
    assert bearer_chat(dash, secret, "How do I upgrade Skyloom?", Origin="https://evil.example").status_code == 403

    # Opening the keys page again shows the key, never its secret.
    page.goto(f"/admin/projects/{dash.project}/keys")
    expect(page.get_by_role("row").filter(has_text="docs-widget")).to_have_count(1)
    expect(page.get_by_test_id("new-key")).to_have_count(0)
    assert secret not in page.content(), "the secret must be shown once only"

    row = page.get_by_role("row").filter(has_text="docs-widget")
    with page.expect_navigation():
        row.get_by_role("button", name="Revoke").click()
    assert path_of(page) == f"/admin/projects/{dash.project}/keys"
    expect(row.get_by_role("cell").nth(6)).to_have_text("revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    resp = bearer_chat(dash, secret, "How do I upgrade Skyloom?")
    assert resp.status_code == 401, resp.text


def scopes_ticked(row: Locator) -> list[str]:
    boxes = row.get_by_role("checkbox")
    return [boxes.nth(i).get_attribute("value") or "" for i in range(boxes.count()) if boxes.nth(i).is_checked()]


def test_scopes_are_shown_and_edited_with_a_warning_for_public_keys(admin: Page, dash: Dashboard) -> None:
    """A public key may not upload until an admin ticks `documents`, which warns what every visitor of the page
    could then do; unticking it takes the right away again."""
    page = admin
    secret = create_key_through_form(page, dash, "scoped-widget")
    row = page.get_by_role("row").filter(has_text="scoped-widget")

    def upload() -> httpx.Response:
        with httpx.Client(base_url=dash.server.base_url, timeout=60) as client:
            return client.post(
                "/api/v1/documents",
                headers={"Authorization": f"Bearer {secret}"},
                files={"file": ("scoped.md", b"# Scoped\n\nScoped uploads are allowed.\n", "text/markdown")},
            )

    refused = upload()
    assert refused.status_code == 403 and "documents" in refused.json()["error"], refused.text

    row.get_by_role("checkbox", name="documents").check()
    with page.expect_navigation():
        row.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("scope-warning")).to_contain_text("upload, list and delete documents")
    row = page.get_by_role("row").filter(has_text="scoped-widget")
    assert scopes_ticked(row) == ["chat", "feedback", "documents"]
    assert upload().status_code in (201, 202)

    row.get_by_role("checkbox", name="documents").uncheck()
    with page.expect_navigation():
        row.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("scope-warning")).to_have_count(0)
    assert upload().status_code == 403


def test_reloading_after_creating_a_key_shows_no_secret_and_creates_no_key(admin: Page, dash: Dashboard) -> None:
    """An admin pressing F5 on the page that showed the new secret must not get a second key (and secret)."""
    page = admin
    secret = create_key_through_form(page, dash, "reload-check")
    expect(page.get_by_role("row").filter(has_text="reload-check")).to_have_count(1)
    page.reload()
    expect(page.get_by_role("heading", name="Create a key")).to_be_visible()
    shown = [s.strip() for s in page.get_by_test_id("new-key").all_inner_texts()]
    rows = page.get_by_role("row").filter(has_text="reload-check").count()
    assert (shown, rows) == ([], 1), (
        f"reloading the page re-submitted the create-key form: new secret(s) shown {shown} (first was {secret}), "
        f"{rows} 'reload-check' keys listed"
    )


# --- 4. CSRF ---------------------------------------------------------------------------------------------------


def csrf_token_of(client: httpx.Client, dash: Dashboard) -> str:
    page = client.get(f"/admin/projects/{dash.project}/keys")
    assert page.status_code == 200, "the session cookie must be sent back"
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, "every form carries a csrf field"
    return match.group(1)


def test_posts_without_the_csrf_token_are_refused(dash: Dashboard) -> None:
    url = f"/admin/projects/{dash.project}/keys"
    with (
        httpx.Client(base_url=dash.base_url, timeout=30, follow_redirects=False) as client,
        httpx.Client(base_url=dash.base_url, timeout=30, follow_redirects=False) as other,
    ):
        login = client.post("/admin/login", data={"username": ADMIN, "password": PASSWORD})
        assert login.status_code == 303 and login.headers["location"] == "/admin", login.headers
        assert "httponly" in login.headers["set-cookie"].lower()
        token = csrf_token_of(client, dash)
        other.post("/admin/login", data={"username": ADMIN, "password": PASSWORD})
        other_token = csrf_token_of(other, dash)  # a token of another login is not this login's token
        assert other_token != token

        before = key_count(dash)
        for csrf in (None, "", "x", other_token):
            data = {"scheme": "x-api-key", "name": "forged"} | ({} if csrf is None else {"csrf": csrf})
            resp = client.post(url, data=data)
            assert resp.status_code == 403, (csrf, resp.status_code, resp.text[:300])
            assert "csrf" in resp.text.lower()
            assert "new-key" not in resp.text
        # Without the session cookie, a POST never reaches the handler: it is sent to the login page.
        anonymous = httpx.post(f"{dash.base_url}{url}", data={"csrf": token}, follow_redirects=False)
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/admin/login"
        assert key_count(dash) == before, "a refused POST must not create a key"

        # The same request with this session's token goes through (so the 403s above were the token's doing).
        resp = client.post(url, data={"scheme": "x-api-key", "name": "csrf-control", "csrf": token})
        assert resp.status_code == 303, resp.text[:300]  # post/redirect/get: the secret is shown once after it
        assert 'data-testid="new-key"' in client.get(resp.headers["location"]).text
        assert "csrf-control" in client.get(url).text


def create_integration_through_form(page: Page, dash: Dashboard, name: str, kind: str, external_id: str) -> None:
    page.goto(f"/admin/projects/{dash.project}/integrations")
    form = page.locator("form").filter(has=page.get_by_role("button", name="Create integration"))
    form.get_by_label("Name").fill(name)
    form.get_by_label("Type").select_option(kind)
    form.get_by_label("Slack / Discord id").fill(external_id)
    with page.expect_navigation():
        form.get_by_role("button", name="Create integration").click()


def test_a_slack_channel_is_connected_from_the_dashboard_by_its_id(admin: Page, dash: Dashboard) -> None:
    page = admin
    create_integration_through_form(page, dash, "#support", "SLACK_CHANNEL", " C0456EFGH ")
    row = page.locator("tr").filter(has_text="#support")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("SLACK_CHANNEL")
    expect(row.locator("td").nth(3)).to_have_text("C0456EFGH")
    listed = dash.cli.json("integration", "list", "--project", dash.project)
    assert [i.get("external_id") for i in listed if i["name"] == "#support"] == ["C0456EFGH"], listed

    # a channel answered by one integration only; an id on a type it cannot apply to: a clear refusal, nothing added
    create_integration_through_form(page, dash, "#support again", "SLACK_CHANNEL", "C0456EFGH")
    expect(page.get_by_role("alert")).to_contain_text("already answered by another SLACK_CHANNEL integration")
    create_integration_through_form(page, dash, "site widget", "WIDGET", "C0456EFGH")
    expect(page.get_by_role("alert")).to_contain_text("an external id applies to")
    names = [i["name"] for i in dash.cli.json("integration", "list", "--project", dash.project)]
    assert "#support again" not in names and "site widget" not in names, names


# --- 5. conversations ------------------------------------------------------------------------------------------


def test_conversation_search(admin: Page, dash: Dashboard) -> None:
    page = admin
    page.goto(f"/admin/projects/{dash.project}/conversations")
    cards = page.locator("div.card")
    expect(cards).to_have_count(len(dash.chats))
    for chat in dash.chats:
        expect(cards.filter(has_text=chat.question).first).to_be_visible()

    page.get_by_label("Search questions and answers").fill("signature")
    with page.expect_navigation():
        page.get_by_role("button", name="Search").click()
    assert parse_qs(urlparse(page.url).query) == {"q": ["signature"]}
    expect(page.get_by_label("Search questions and answers")).to_have_value("signature")
    expect(cards).to_have_count(1)
    card = cards.first
    expect(card.locator("strong")).to_have_text("How do I verify webhook signatures?")
    expect(card.locator("pre")).to_contain_text("X-Skyloom-Signature")
    expect(card).to_contain_text("👍")
    text = page.locator("main").inner_text()
    for chat in dash.chats:
        if chat.question != "How do I verify webhook signatures?":
            assert chat.question not in text

    page.goto(f"/admin/projects/{dash.project}/conversations?q=durian-smoothie")
    expect(cards).to_have_count(0)
    expect(page.locator("main")).to_contain_text("No conversations match")


def test_conversation_search_matches_percent_literally(admin: Page, dash: Dashboard) -> None:
    """`%` and `_` typed in the search box are text to find, not SQL LIKE wildcards."""
    page = admin
    cards = page.locator("div.card")
    page.goto(f"/admin/projects/{dash.lab}/conversations")
    expect(cards).to_have_count(len(LAB_QUESTIONS))
    page.get_by_label("Search questions and answers").fill("%")
    with page.expect_navigation():
        page.get_by_role("button", name="Search").click()
    found = [t.strip() for t in cards.locator("strong").all_inner_texts()]
    assert found == ["Does 100% of my data sync?"], f"searching for '%' found {found}"


# --- 6. analytics ----------------------------------------------------------------------------------------------


def stat(page: Page, label: str) -> str:
    return page.locator("div.stat").filter(has_text=label).locator("b").inner_text().strip()


CHART_STATE = """() => ["questions", "uncertain", "votes", "users", "models"].map(id => {
  const canvas = document.getElementById(id);
  const chart = canvas && Chart.getChart(canvas);
  if (!chart) return {id, chart: false};
  const ctx = canvas.getContext("2d");
  const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return {
    id, chart: true, type: chart.config.type, width: canvas.width, height: canvas.height, painted,
    labels: chart.data.labels,
    sums: chart.data.datasets.map(d => d.data.reduce((a, b) => a + (b || 0), 0)),
  };
})"""


def test_analytics_page_shows_the_activity(admin: Page, dash: Dashboard) -> None:
    page = admin
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"/admin/projects/{dash.project}/analytics")
    total = len(dash.chats)
    uncertain = [c for c in dash.chats if c.uncertain]
    upvotes = sum(1 for _, r in VOTES if r == "upvote")
    downvotes = len(VOTES) - upvotes
    users = {c.email for c in dash.chats if c.email}

    expect(page.get_by_test_id("total-questions")).to_have_text(str(total))
    assert stat(page, "Uncertain") == f"{round(100 * len(uncertain) / total, 1)} %"
    assert stat(page, "Upvotes") == str(upvotes)
    assert stat(page, "Downvotes") == str(downvotes)
    assert stat(page, "Unique users") == str(len(users))

    charts = {c["id"]: c for c in page.evaluate(CHART_STATE)}
    assert all(c["chart"] for c in charts.values()), charts
    for c in charts.values():
        assert c["width"] > 0 and c["height"] > 0 and c["painted"] > 0, f"chart {c['id']} is not drawn: {c}"
    assert charts["questions"]["sums"] == [total, len(uncertain)]
    assert len(charts["questions"]["labels"]) == 30
    assert charts["votes"]["sums"] == [upvotes, downvotes]
    assert charts["users"]["sums"] == [len(users)]  # each user asked once, so daily unique users add up
    assert charts["models"]["labels"] == ["extractive"]
    assert errors == [], errors

    gaps = page.locator("div.card").filter(has=page.get_by_role("heading", name="Coverage gaps"))
    rows = gaps.get_by_role("row").filter(has=page.get_by_role("cell"))
    expect(rows).to_have_count(len(uncertain) - 1)  # the two CSV questions are one gap
    csv_row = rows.first
    expect(csv_row.get_by_role("cell").first).to_have_text("2")
    for question in CSV_QUESTIONS:
        expect(csv_row).to_contain_text(question)
    for chat in uncertain:
        if chat.question not in CSV_QUESTIONS:
            row = rows.filter(has_text=chat.question)
            expect(row).to_have_count(1)
            expect(row.get_by_role("cell").first).to_have_text("1")
    answered = [c.question for c in dash.chats if not c.uncertain]
    for question in answered:
        expect(gaps).not_to_contain_text(question)

    usage = page.locator("div.card").filter(has=page.get_by_role("heading", name="Usage and cost by model"))
    usage_rows = usage.get_by_role("row").filter(has=page.get_by_role("cell"))
    expect(usage_rows).to_have_count(1)
    cells = usage_rows.first.get_by_role("cell")
    expect(cells.nth(0)).to_have_text("extractive")
    expect(cells.nth(1)).to_have_text(str(total))
    expect(cells.nth(4)).to_have_text("0.0000")


def test_analytics_charts_survive_markup_in_a_question(admin: Page, dash: Dashboard) -> None:
    """End users write the questions; one that looks like HTML must not break the admin's charts."""
    page = admin
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"/admin/projects/{dash.lab}/analytics")
    expect(page.get_by_test_id("total-questions")).to_have_text(str(len(LAB_QUESTIONS)))
    gaps = page.locator("div.card").filter(has=page.get_by_role("heading", name="Coverage gaps"))
    expect(gaps).to_contain_text(MARKUP_QUESTION)  # shown as text
    charts = page.evaluate(CHART_STATE.replace("Chart.getChart", "window.Chart?.getChart"))
    state = {c["id"]: c["chart"] for c in charts}
    assert all(state.values()), f"charts drawn: {state}; page errors: {errors}"
    assert errors == []


BAR_GEOMETRY = """() => Object.fromEntries(["votes", "users", "models"].map(id => {
  const chart = Chart.getChart(document.getElementById(id));
  const area = chart.chartArea;
  const bars = chart.data.datasets.flatMap((dataset, i) => chart.getDatasetMeta(i).data.map((bar, j) => {
    const value = dataset.data[j];
    const props = ["x", "y", "base", "width", "height", "horizontal"];
    const {x, y, base, width, height, horizontal} = bar.getProps(props, true);
    const box = horizontal
      ? {left: Math.min(x, base), right: Math.max(x, base), top: y - height / 2, bottom: y + height / 2}
      : {left: x - width / 2, right: x + width / 2, top: Math.min(y, base), bottom: Math.max(y, base)};
    const inside = Object.values(box).every(Number.isFinite) && box.right - box.left > 0 && box.bottom - box.top > 0
      && box.left >= area.left - 0.5 && box.right <= area.right + 0.5
      && box.top >= area.top - 0.5 && box.bottom <= area.bottom + 0.5;
    return {dataset: dataset.label, label: chart.data.labels[j], value, inside, box};
  })).filter(bar => bar.value > 0);
  return [id, {indexScale: chart.scales[chart.options.indexAxis || "x"].type, area, bars}];
}))"""


def test_analytics_bars_are_drawn_inside_the_charts(admin: Page, dash: Dashboard) -> None:
    """Every non-zero bar, today's included, lies whole inside its chart; the model chart's bars are horizontal."""
    page = admin
    page.goto(f"/admin/projects/{dash.project}/analytics")
    charts = page.evaluate(BAR_GEOMETRY)
    problems = []
    if charts["models"]["indexScale"] != "category":
        problems.append(f"models: the y (index) axis is {charts['models']['indexScale']}, not category")
    for name, chart in charts.items():
        if not chart["bars"]:
            problems.append(f"{name}: no bar with a value")
        outside = [b for b in chart["bars"] if not b["inside"]]
        problems += [f"{name}: bar not inside the chart area {chart['area']}: {b}" for b in outside]
    assert problems == [], "\n".join(problems)


# --- 7. screenshot ---------------------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def test_analytics_screenshot(admin: Page, dash: Dashboard, tmp_path: Path) -> None:
    page = admin
    page.goto(f"/admin/projects/{dash.project}/analytics")
    expect(page.get_by_test_id("total-questions")).to_have_text(str(len(dash.chats)))
    assert page.evaluate("() => !!Chart.getChart(document.getElementById('models'))")
    shot = tmp_path / "analytics.png"
    page.screenshot(path=str(shot), full_page=True)
    width, height = png_size(shot)
    assert width == VIEWPORT["width"] and height >= VIEWPORT["height"], (width, height)
    if os.environ.get("DOCSAGE_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, SCREENSHOT)
