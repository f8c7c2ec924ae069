"""The public widget endpoints the official `@kapaai/react-sdk` calls (`/proxy/query/v2/…`).

The SDK authenticates with `X-WEBSITE-ID: <integration id>` instead of an API key (it runs in browsers,
where a key would leak). The id is public, so only an enabled WIDGET integration serves these routes, which
are scoped to its project and its own threads, rate-limited per client IP and per integration apart from the
team's server-side budget, and record the user the browser names as a claim, never as a stored identity. Point
the SDK at docsage with `new DefaultKapaApiService(processStream, "https://docs-host")`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from docsage.api.deps import Principal, ServicesDep, limit_public_chat
from docsage.api.kapa.chat import _internal_flags, _streaming
from docsage.chat.service import ChatRequest, EndUserInfo
from docsage.errors import AuthError, InvalidInputError
from docsage.services import Services

router = APIRouter(prefix="/proxy/query/v2", tags=["Widget (React SDK)"])
WebsiteId = Annotated[str | None, Header(alias="X-WEBSITE-ID", description="Integration id of the widget.")]


class ProxyUser(BaseModel):
    model_config = ConfigDict(extra="allow")
    email: str | None = Field(default=None, max_length=320)
    unique_client_id: str | None = Field(default=None, max_length=200)
    # The browser-bound ids (FingerprintJS visitor id, the `kapa_web_id` cookie's UUID) are stored with a prefix.
    fingerprint_id: str | None = Field(default=None, max_length=180)
    kapa_web_id: str | None = Field(default=None, max_length=180)
    metadata: dict[str, Any] | None = None


class ProxyChatIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    query: str = Field(min_length=1, max_length=5000)
    mode: Literal["default", "deep_thinking"] = "default"
    user: ProxyUser | None = None
    metadata: dict[str, Any] | None = None
    thread_id: str | None = None
    source_group_ids_include: list[str] | None = None


class ProxyFeedbackIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user_identifier: str = Field(min_length=1, max_length=200)
    reaction: Literal["upvote", "downvote"]
    question_answer: UUID
    comment: str | dict[str, Any] | None = None  # the SDK sends JSON.stringify({issue, incorrect, …})


def website(services: Services, website_id: str | None) -> tuple[Principal, str]:
    """(principal of the integration's project, integration id) for an X-WEBSITE-ID header.

    Only an enabled WIDGET integration's id is a website id; any other id (an API or support-form integration's)
    gets the same 401 as an unknown one, so the proxy does not tell which ids exist.
    """
    if not website_id:
        raise AuthError("X-WEBSITE-ID header is required.")
    integration = services.projects.find_integration(website_id)
    if integration is None or not integration.is_enabled or integration.integration_type != "WIDGET":
        raise AuthError("Unknown or disabled website id.")
    project = services.projects.get_project(integration.project_id)
    return Principal(f"integration:{integration.id}", project.id, project.team_id), integration.id


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _request(
    who: Principal, integration_id: str, body: ProxyChatIn, request: Request, thread_id: str | None
) -> ChatRequest:
    user = body.user
    info = None
    if user is not None:
        meta = dict(user.metadata or {})
        info = EndUserInfo(
            email=user.email,
            unique_client_id=user.unique_client_id,
            fingerprint_id=user.fingerprint_id or user.kapa_web_id,
            ip_address=_client_ip(request),
            metadata=meta,
            verified=False,  # anything a web page sends may be typed by anyone
        )
    return ChatRequest(
        project_id=who.project_id,
        query=body.query,
        thread_id=thread_id,
        integration_id=integration_id,
        user=info,
        metadata=body.metadata or {},
        source_ids=body.source_group_ids_include,
        require_integration_match=True,  # a thread id alone is no proof: only this widget's threads continue
    )


@router.post("/chat/stream/", summary="Widget chat (streamed)")
def proxy_chat(
    body: ProxyChatIn, request: Request, services: ServicesDep, website_id: WebsiteId = None
) -> StreamingResponse:
    who, integration_id = website(services, website_id)
    limit_public_chat(services, integration_id, _client_ip(request))
    events = services.chat.stream(_request(who, integration_id, body, request, body.thread_id))
    return _streaming(events, _internal_flags(services, who.project_id))


@router.post("/thread/{thread_id}/chat/stream/", summary="Widget chat in thread (streamed)")
def proxy_thread_chat(
    thread_id: str, body: ProxyChatIn, request: Request, services: ServicesDep, website_id: WebsiteId = None
) -> StreamingResponse:
    who, integration_id = website(services, website_id)
    limit_public_chat(services, integration_id, _client_ip(request))
    events = services.chat.stream(_request(who, integration_id, body, request, thread_id))
    return _streaming(events, _internal_flags(services, who.project_id))


@router.post("/feedback/upsert/", summary="Widget feedback")
def proxy_feedback(
    body: ProxyFeedbackIn, request: Request, services: ServicesDep, website_id: WebsiteId = None
) -> Response:
    """Feedback on an answer this widget gave (another integration's or a server-side key's answer: 404)."""
    who, integration_id = website(services, website_id)
    limit_public_chat(services, f"feedback:{integration_id}", request.client.host if request.client else None)
    comment = body.comment
    if isinstance(comment, str):
        try:
            comment = json.loads(comment) if comment.strip() else None
        except json.JSONDecodeError:
            comment = {"issue": comment}
        except RecursionError:
            raise InvalidInputError("comment is nested too deeply") from None
        if comment is not None and not isinstance(comment, dict):
            raise InvalidInputError("comment must be a JSON object")
    services.feedback.upsert(
        who.project_id,
        str(body.question_answer),
        body.user_identifier,
        body.reaction,
        comment,
        integration_id=integration_id,
    )
    return Response(status_code=201)
