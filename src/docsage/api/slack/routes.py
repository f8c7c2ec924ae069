"""POST /slack/events: Slack's Events API and interactivity requests, handed to the Bolt app (which checks
their signature and acknowledges them at once)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

from docsage.api.deps import ServicesDep
from docsage.errors import NotFoundError
from docsage.integrations.slack import build_slack_app
from docsage.services import Services

router = APIRouter(prefix="/slack", tags=["slack"])


def _handler(request: Request, services: Services) -> AsyncSlackRequestHandler:
    """The Bolt app, built once per server from the settings."""
    handler: AsyncSlackRequestHandler | None = getattr(request.app.state, "slack_handler", None)
    if handler is None:
        s = services.settings
        if not (s.slack_signing_secret and s.slack_bot_token):
            raise NotFoundError("Slack is not set up: set DOCSAGE_SLACK_SIGNING_SECRET and DOCSAGE_SLACK_BOT_TOKEN")
        app = build_slack_app(services.chat_apps, s.slack_signing_secret, s.slack_bot_token, s.slack_api_url)
        handler = request.app.state.slack_handler = AsyncSlackRequestHandler(app)
    return handler


@router.post(
    "/events",
    summary="Slack Events API and interactivity (Request URL of the Slack app)",
    description="Signed by Slack (X-Slack-Signature, X-Slack-Request-Timestamp; 401 otherwise). Mentions and "
    "direct messages are acknowledged at once and answered in their thread; feedback buttons are recorded.",
)
async def events(request: Request, services: ServicesDep) -> Response:
    return await _handler(request, services).handle(request)
