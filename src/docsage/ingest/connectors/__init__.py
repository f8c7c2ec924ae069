"""Connectors: each turns a configured source into fetched documents."""

from docsage.ingest.connectors.registry import CONNECTORS, build_connector

__all__ = ["CONNECTORS", "build_connector"]
