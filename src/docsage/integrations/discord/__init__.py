"""Discord: the interactions endpoint's behaviour (signatures, `/ask`, feedback buttons)."""

from docsage.integrations.discord.interactions import DiscordInteractions, InteractionReply
from docsage.integrations.discord.signature import public_key, verify_request
from docsage.integrations.discord.webhook import DiscordWebhook

__all__ = ["DiscordInteractions", "DiscordWebhook", "InteractionReply", "public_key", "verify_request"]
