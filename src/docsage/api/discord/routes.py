"""POST /discord/interactions: Discord's interactions endpoint (signed with Ed25519)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from docsage.api.deps import ServicesDep
from docsage.errors import InvalidInputError, NotFoundError
from docsage.integrations.discord import DiscordInteractions, DiscordWebhook, public_key, verify_request

router = APIRouter(prefix="/discord", tags=["discord"])


@router.post(
    "/interactions",
    summary="Discord interactions (Interactions Endpoint URL of the Discord application)",
    description="Signed by Discord (X-Signature-Ed25519 over X-Signature-Timestamp + body; 401 otherwise, and "
    "for a timestamp over 5 minutes old or an interaction received before). PING → PONG; `/ask` → a deferred "
    "response, then the cited answer through the interaction's webhook; feedback buttons are recorded.",
)
async def interactions(
    request: Request,
    services: ServicesDep,
    background: BackgroundTasks,
    signature: Annotated[str | None, Header(alias="X-Signature-Ed25519")] = None,
    timestamp: Annotated[str | None, Header(alias="X-Signature-Timestamp")] = None,
) -> JSONResponse:
    settings = services.settings
    if not settings.discord_public_key:
        raise NotFoundError("Discord is not set up: set DOCSAGE_DISCORD_PUBLIC_KEY")
    body = await request.body()
    verify_request(public_key(settings.discord_public_key), signature, timestamp, body, time.time())
    try:
        payload: Any = json.loads(body)
    except ValueError:
        raise InvalidInputError("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidInputError("the body is not a JSON object")
    webhook = DiscordWebhook(settings.discord_api_url)
    reply = await run_in_threadpool(lambda: DiscordInteractions(services.chat_apps, webhook).handle(payload))
    if reply.follow_up is not None:
        background.add_task(reply.follow_up)  # runs once the response is sent: Discord wants it within 3 s
    return JSONResponse(reply.response)
