"""Slack: the Bolt app that answers mentions and direct messages."""

from docsage.integrations.slack.bot import SlackBot, build_slack_app

__all__ = ["SlackBot", "build_slack_app"]
