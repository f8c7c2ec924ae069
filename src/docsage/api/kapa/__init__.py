"""Kapa-compatible /query/v1 API."""
