"""Slack's Events API and interactivity endpoint."""
