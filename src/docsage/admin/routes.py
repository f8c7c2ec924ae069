"""The admin dashboard at /admin: server-rendered pages behind a login, every form CSRF-protected."""

from __future__ import annotations

import json
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from docsage.accounts import Login, LoginThrottledError
from docsage.analytics.dashboard import dashboard_data
from docsage.api.deps import ServicesDep
from docsage.errors import DocsageError, ForbiddenError, NotFoundError
from docsage.ingest.service import enqueue_ingest
from docsage.projects.service import INTEGRATION_TYPES, SCOPES, is_public
from docsage.services import Services

router = APIRouter(prefix="/admin", include_in_schema=False)
templates = Jinja2Templates(directory=str(resources.files("docsage.admin") / "templates"))
COOKIE = "docsage_admin"


class LoginRequired(Exception):
    """Raised by the login dependency; the app turns it into a redirect to the login page."""


def current_login(request: Request, services: ServicesDep) -> Login:
    login = services.admin.current(request.cookies.get(COOKIE))
    if login is None:
        raise LoginRequired
    return login


LoginDep = Annotated[Login, Depends(current_login)]


def check_csrf(login: Login, token: str) -> None:
    if not token or token != login.csrf_token:
        raise ForbiddenError("invalid or missing CSRF token; reload the page and try again")


def page(request: Request, name: str, login: Login | None, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"login": login, **context})


def back(url: str, **query: str) -> RedirectResponse:
    return RedirectResponse(f"{url}?{urlencode(query)}" if query else url, status_code=303)


@router.get("/static/chart.js")
def chart_js() -> Response:
    """Chart.js 4.6.1 (MIT), vendored so the dashboard works without internet access."""
    data = (resources.files("docsage.web") / "static" / "vendor" / "chart-4.6.1.umd.min.js").read_bytes()
    return Response(data, media_type="application/javascript", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, error: str = "") -> HTMLResponse:
    return page(request, "login.html", None, error=error)


@router.post("/login")
def login_submit(
    request: Request,
    services: ServicesDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    # A sync route: the scrypt inside runs on the threadpool, never on the event loop. The client address is
    # uvicorn's, which applies X-Forwarded-For only from DOCSAGE_FORWARDED_ALLOW_IPS.
    try:
        token, _ = services.admin.login(username, password, request.client.host if request.client else "")
    except LoginThrottledError as exc:
        locked = page(request, "login.html", None, error=exc.message)
        locked.status_code = 429
        locked.headers["Retry-After"] = str(exc.retry_after)
        return locked
    except DocsageError:
        return back("/admin/login", error="Wrong username or password.")
    response = back("/admin")
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", max_age=12 * 3600, path="/admin", secure=_https(request)
    )
    return response


def _https(request: Request) -> bool:
    """Over https (uvicorn takes X-Forwarded-Proto from trusted proxies) the cookie is Secure: never sent in clear."""
    return request.url.scheme == "https"


@router.post("/logout")
def logout(request: Request, services: ServicesDep, login: LoginDep, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(login, csrf)
    services.admin.logout(request.cookies.get(COOKIE))
    response = back("/admin/login")
    response.delete_cookie(COOKIE, path="/admin", secure=_https(request), httponly=True, samesite="strict")
    return response


@router.get("", response_class=HTMLResponse)
def projects(request: Request, services: ServicesDep, login: LoginDep) -> HTMLResponse:
    return page(request, "projects.html", login, projects=services.projects.list_projects())


@router.post("/projects")
def create_project(
    services: ServicesDep, login: LoginDep, name: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = ""
) -> Response:
    check_csrf(login, csrf)
    project = services.projects.create_project(name)
    return back(f"/admin/projects/{project.id}")


def _project_page(
    request: Request, services: Services, login: Login, project_id: str, tab: str, **context: Any
) -> HTMLResponse:
    project = services.projects.get_project(project_id)
    return page(request, f"{tab}.html", login, project=project, tab=tab, **context)


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def sources(request: Request, project_id: str, services: ServicesDep, login: LoginDep, msg: str = "") -> HTMLResponse:
    return _project_page(
        request, services, login, project_id, "sources",
        sources=services.projects.list_sources(project_id), status=services.projects.source_status(project_id), msg=msg,
    )  # fmt: skip


@router.post("/projects/{project_id}/sources/{source_id}/ingest")
def reingest(
    project_id: str, source_id: str, services: ServicesDep, login: LoginDep, csrf: Annotated[str, Form()] = ""
) -> Response:
    check_csrf(login, csrf)
    source = services.projects.get_source(source_id)
    if source.project_id != project_id:
        raise ForbiddenError("that source belongs to another project")
    job = enqueue_ingest(services.jobs, project_id, source_id)
    state = "queued" if job.status == "queued" else "already running"
    return back(f"/admin/projects/{project_id}", msg=f"Re-ingest of {source.name} {state}.")


@router.get("/projects/{project_id}/keys", response_class=HTMLResponse)
def keys(
    request: Request, project_id: str, services: ServicesDep, login: LoginDep, reveal: str = "", warn: str = ""
) -> HTMLResponse:
    secret = services.reveals.take(reveal, login.user_id)
    return _project_page(
        request, services, login, project_id, "keys",
        keys=services.projects.list_keys(project_id), secret=secret, scopes=SCOPES, is_public=is_public, warn=warn,
    )  # fmt: skip


@router.post("/projects/{project_id}/keys")
def create_key(
    project_id: str,
    services: ServicesDep,
    login: LoginDep,
    scheme: Annotated[str, Form()] = "x-api-key",
    origins: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    scope: Annotated[list[str] | None, Form()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(login, csrf)
    allowed = [o.strip() for o in origins.replace(",", "\n").splitlines() if o.strip()]
    created = services.projects.create_key(project_id, scheme, allowed, name, scope or None)
    # Post/redirect/get, so a reload cannot create a second key; the secret is handed over once, sealed in the
    # database until then (the page may be served by another replica).
    reveal = services.reveals.stash(login.user_id, created.secret)
    return back(f"/admin/projects/{project_id}/keys", reveal=reveal, **_warning(created.warnings))


def _warning(warnings: tuple[str, ...]) -> dict[str, str]:
    return {"warn": " ".join(warnings)} if warnings else {}


@router.post("/projects/{project_id}/keys/{key_id}/scopes")
def set_key_scopes(
    project_id: str,
    key_id: str,
    services: ServicesDep,
    login: LoginDep,
    scope: Annotated[list[str] | None, Form()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(login, csrf)
    _, warnings = services.projects.set_scopes(project_id, key_id, scope or [])
    return back(f"/admin/projects/{project_id}/keys", **_warning(warnings))


@router.post("/projects/{project_id}/keys/{key_id}/revoke")
def revoke_key(
    project_id: str, key_id: str, services: ServicesDep, login: LoginDep, csrf: Annotated[str, Form()] = ""
) -> Response:
    check_csrf(login, csrf)
    if not any(k.id == key_id for k in services.projects.list_keys(project_id)):
        raise NotFoundError("this project has no such key")
    services.projects.revoke_key(key_id)
    return back(f"/admin/projects/{project_id}/keys")


@router.get("/projects/{project_id}/integrations", response_class=HTMLResponse)
def integrations(request: Request, project_id: str, services: ServicesDep, login: LoginDep) -> HTMLResponse:
    return _project_page(
        request,
        services,
        login,
        project_id,
        "integrations",
        integrations=services.projects.list_integrations(project_id),
        types=INTEGRATION_TYPES,
    )


@router.post("/projects/{project_id}/integrations")
def create_integration(
    project_id: str,
    services: ServicesDep,
    login: LoginDep,
    integration_type: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    external_id: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(login, csrf)
    services.projects.create_integration(project_id, integration_type, name, external_id=external_id)
    return back(f"/admin/projects/{project_id}/integrations")


@router.get("/projects/{project_id}/conversations", response_class=HTMLResponse)
def conversations(
    request: Request, project_id: str, services: ServicesDep, login: LoginDep, q: str = ""
) -> HTMLResponse:
    rows = services.analytics.search_conversations(project_id, q.strip())
    return _project_page(request, services, login, project_id, "conversations", rows=rows, q=q)


@router.get("/projects/{project_id}/analytics", response_class=HTMLResponse)
def analytics(
    request: Request, project_id: str, services: ServicesDep, login: LoginDep, days: int = 30
) -> HTMLResponse:
    days = min(max(days, 1), 366)
    data = dashboard_data(services.database, project_id, days, services.embedder.embed_documents)
    return _project_page(
        request,
        services,
        login,
        project_id,
        "analytics",
        data=data,
        days=days,
        # Inside <script>, questions are user input: escape everything HTML could act on.
        data_json=json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"),
    )
