"""The Slack app (Bolt, Events API over HTTP): mentions and direct messages answered in their thread with cited
pages, a Slack thread continued as one docsage thread, and feedback buttons.

Bolt acknowledges each event before its listener runs (Slack wants a reply within 3 s and retries otherwise),
and the listener posts the answer afterwards with chat.postMessage. Answering is not a background job: the job
queue runs ingests one at a time on `DOCSAGE_JOB_WORKERS` threads, so an answer could wait behind an hour-long
crawl, and a retried job would post twice. It runs on a worker thread of this process instead (retrieval and
the answer engine block), and a message is taken on once across replicas (the database remembers it), so
Slack's retries are acknowledged and dropped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from docsage.chat.service import EndUserInfo
from docsage.errors import DocsageError, NotFoundError
from docsage.integrations.service import ChatAppService, Route
from docsage.integrations.slack.render import FEEDBACK_ACTIONS, answer_blocks, answer_text

log = logging.getLogger(__name__)
T = TypeVar("T")
PLATFORM = "slack"
NOT_CONNECTED = (
    "This Slack channel is not connected to docsage yet. An admin connects it with "
    "`docsage integration create --type SLACK_WORKSPACE --external-id {team}` (the whole workspace) or "
    "`--type SLACK_CHANNEL --external-id {channel}` (this channel)."
)
EMPTY_QUESTION = "Ask me a question about the docs, for example: _How do I get started?_"
FAILED = "Sorry, I could not answer that: {reason}"


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Database and answer-engine work on a worker thread, never on the event loop."""
    return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))


class SlackBot:
    """What the app does with what Slack sends; every answer and rating goes through ChatAppService."""

    def __init__(self, chat_apps: ChatAppService) -> None:
        self.chat_apps = chat_apps

    async def on_mention(
        self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        text = str(event.get("text", ""))
        bot = context.bot_user_id
        question = re.sub(rf"<@{re.escape(bot)}(\|[^>]*)?>" if bot else r"^\s*<@[^>]+>", "", text).strip()
        await self._answer(event, body, client, question)

    async def on_direct_message(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        # Channels are answered on mentions only (app_mention); other bots' messages are never answered.
        if event.get("channel_type") != "im" or event.get("bot_id"):
            return
        await self._answer(event, body, client, str(event.get("text", "")).strip())

    async def _answer(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, question: str) -> None:
        team = str(body.get("team_id") or event.get("team") or "")
        channel, ts, user = str(event["channel"]), str(event["ts"]), str(event.get("user", ""))
        root = str(event.get("thread_ts") or ts)  # a reply in a thread continues it; a new message starts one
        # A message, not an event id: a retry, or the same message reaching us twice, is answered once.
        if not await blocking(self.chat_apps.take_delivery, PLATFORM, f"{team}:{channel}:{ts}"):
            log.info("slack message %s:%s already taken on: a retry, not answered again", channel, ts)
            return
        route = await blocking(self.chat_apps.route, PLATFORM, channel, team)
        if route is None:
            log.warning("slack message from team %s channel %s: no integration answers it", team, channel)
            await client.chat_postMessage(
                channel=channel, thread_ts=root, text=NOT_CONNECTED.format(team=team, channel=channel)
            )
            return
        if not question:
            await client.chat_postMessage(channel=channel, thread_ts=root, text=EMPTY_QUESTION)
            return
        try:
            await blocking(self.chat_apps.admit, route)
            answer = await blocking(
                self.chat_apps.ask,
                PLATFORM,
                route,
                question,
                user=EndUserInfo(slack_id=user or None),
                conversation_key=f"{team}:{channel}:{root}",
                metadata={"slack_team": team, "slack_channel": channel},
            )
        except DocsageError as exc:
            await client.chat_postMessage(channel=channel, thread_ts=root, text=FAILED.format(reason=exc.message))
            return
        await client.chat_postMessage(
            channel=channel,
            thread_ts=root,
            text=answer_text(answer),
            blocks=answer_blocks(answer),
            unfurl_links=False,
            unfurl_media=False,
        )

    async def on_feedback(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        team = str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")
        channel = str((body.get("channel") or {}).get("id") or "")
        user = str((body.get("user") or {}).get("id") or "")
        message = body.get("message") or {}
        reaction = FEEDBACK_ACTIONS[str(action["action_id"])]
        route: Route | None = await blocking(self.chat_apps.route, PLATFORM, channel, team)
        if route is None:
            reply = NOT_CONNECTED.format(team=team, channel=channel)
        else:
            try:
                await blocking(self.chat_apps.rate, route, str(action.get("value", "")), f"slack:{user}", reaction)
                reply = "Thanks for the feedback!" if reaction == "upvote" else "Thanks, we'll use this to improve."
            except NotFoundError:
                reply = "This answer can no longer be rated here."
        await client.chat_postEphemeral(
            channel=channel, user=user, text=reply, thread_ts=message.get("thread_ts") or message.get("ts")
        )


def build_slack_app(chat_apps: ChatAppService, signing_secret: str, bot_token: str, api_url: str) -> AsyncApp:
    """A Bolt app verifying Slack's request signatures with the signing secret and calling the Web API at
    api_url (Slack's own, or a stand-in) with the bot token."""
    bot = SlackBot(chat_apps)
    app = AsyncApp(
        name="docsage",
        signing_secret=signing_secret,
        client=AsyncWebClient(token=bot_token, base_url=api_url.rstrip("/") + "/"),
        logger=log,
    )
    app.event("app_mention")(bot.on_mention)
    app.event({"type": "message", "subtype": None})(bot.on_direct_message)
    app.action(re.compile("^(" + "|".join(FEEDBACK_ACTIONS) + ")$"))(bot.on_feedback)
    return app
