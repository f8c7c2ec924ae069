"""Discord interactions: PING, the `/ask` command answered by a deferred response and a follow-up message,
and the feedback buttons under an answer.

Discord wants a response within 3 s, so `/ask` is answered "thinking…" (a deferred response) at once, and the
answer replaces it through the interaction's webhook once it is ready (the token is valid for 15 minutes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from docsage.chat.service import EndUserInfo
from docsage.errors import AuthError, DocsageError, NotFoundError
from docsage.integrations.discord.render import FEEDBACK_PREFIX, answer_message, text_message
from docsage.integrations.discord.webhook import DiscordWebhook
from docsage.integrations.service import ChatAppService, Route

log = logging.getLogger(__name__)
PLATFORM = "discord"
# Interaction types and response types of Discord's API.
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT = 1, 2, 3
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE = 1, 4, 5
ASK_COMMAND = "ask"
NOT_CONNECTED = (
    "This Discord channel is not connected to docsage yet. An admin connects it with "
    "`docsage integration create --type DISCORD_SERVER --external-id {guild}` (the whole server) or "
    "`--type DISCORD_CHANNEL --external-id {channel}` (this channel)."
)


@dataclass(frozen=True)
class InteractionReply:
    """The response to send now, and the work to do once it is sent (the deferred answer)."""

    response: dict[str, Any]
    follow_up: Callable[[], None] | None = None


def _message(text: str) -> InteractionReply:
    return InteractionReply({"type": CHANNEL_MESSAGE, "data": text_message(text, ephemeral=True)})


def _user_id(payload: dict[str, Any]) -> str:
    user = (payload.get("member") or {}).get("user") or payload.get("user") or {}
    return str(user.get("id") or "")


def _channel_id(payload: dict[str, Any]) -> str:
    return str(payload.get("channel_id") or (payload.get("channel") or {}).get("id") or "")


class DiscordInteractions:
    def __init__(self, chat_apps: ChatAppService, webhook: DiscordWebhook) -> None:
        self.chat_apps = chat_apps
        self.webhook = webhook

    def handle(self, payload: dict[str, Any]) -> InteractionReply:
        """Called with a payload whose signature was verified. AuthError for an interaction seen before: Discord
        sends each once, so a second one is a replay of a signed request."""
        kind = payload.get("type")
        if kind == PING:
            return InteractionReply({"type": PONG})
        if not self.chat_apps.take_delivery(PLATFORM, str(payload.get("id") or "")):
            raise AuthError("this interaction was already received (a replay)")
        guild, channel = str(payload.get("guild_id") or ""), _channel_id(payload)
        route = self.chat_apps.route(PLATFORM, channel, guild)
        if route is None:
            log.warning("discord interaction from guild %s channel %s: no integration answers it", guild, channel)
            return _message(NOT_CONNECTED.format(guild=guild or "SERVER_ID", channel=channel))
        if kind == APPLICATION_COMMAND:
            return self._command(payload, route, guild, channel)
        if kind == MESSAGE_COMPONENT:
            return self._component(payload, route)
        return _message("docsage does not handle this kind of interaction.")

    def _command(self, payload: dict[str, Any], route: Route, guild: str, channel: str) -> InteractionReply:
        data = payload.get("data") or {}
        if data.get("name") != ASK_COMMAND:
            return _message(f"Unknown command /{data.get('name')}: docsage answers /{ASK_COMMAND}.")
        options = {o.get("name"): o.get("value") for o in data.get("options") or [] if isinstance(o, dict)}
        question = str(options.get("question") or "").strip()
        if not question:
            return _message("Ask a question about the docs, for example: /ask question: How do I get started?")
        try:
            self.chat_apps.admit(route)
        except DocsageError as exc:
            return _message(exc.message)
        application_id, token = str(payload.get("application_id") or ""), str(payload.get("token") or "")
        user = EndUserInfo(discord_id=_user_id(payload) or None)

        def answer() -> None:
            try:
                found = self.chat_apps.ask(
                    PLATFORM,
                    route,
                    question,
                    user=user,
                    metadata={"discord_guild": guild, "discord_channel": channel},
                )
                message = answer_message(question, found)
            except DocsageError as exc:
                message = text_message(f"Sorry, I could not answer that: {exc.message}")
            try:
                self.webhook.edit_original(application_id, token, message)
            except DocsageError as exc:
                log.error("discord follow-up for interaction %s failed: %s", payload.get("id"), exc.message)

        return InteractionReply({"type": DEFERRED_CHANNEL_MESSAGE}, answer)

    def _component(self, payload: dict[str, Any], route: Route) -> InteractionReply:
        custom_id = str((payload.get("data") or {}).get("custom_id") or "")
        reaction, _, qa_id = custom_id.removeprefix(FEEDBACK_PREFIX).partition(":")
        if not custom_id.startswith(FEEDBACK_PREFIX) or reaction not in ("upvote", "downvote"):
            return _message("docsage does not know this button.")
        try:
            self.chat_apps.rate(route, qa_id, f"discord:{_user_id(payload)}", reaction)
        except NotFoundError:
            return _message("This answer can no longer be rated here.")
        return _message("Thanks for the feedback!" if reaction == "upvote" else "Thanks, we'll use this to improve.")
