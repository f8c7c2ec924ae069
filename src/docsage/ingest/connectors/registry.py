"""Connector registry: builds the connector for a source type from its stored options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from docsage.config import Settings
from docsage.errors import InvalidInputError
from docsage.ingest.documents import Connector

Factory = Callable[[str, dict[str, Any], Settings], Connector]


def _folder(location: str, options: dict[str, Any], settings: Settings) -> Connector:
    from docsage.ingest.connectors.folder import FolderConnector

    return FolderConnector(location, url_template=options.get("url_template") or None)


def _web(location: str, options: dict[str, Any], settings: Settings) -> Connector:
    from docsage.ingest.connectors.web import WebConnector

    return WebConnector(
        location,
        max_pages=int(options.get("max_pages") or settings.crawl_max_pages),
        allow_private=bool(options.get("allow_private", False)),
        concurrency=int(options.get("concurrency") or settings.crawl_concurrency),
        timeout_s=settings.crawl_timeout_s,
        user_agent=settings.crawl_user_agent,
        prefix=options.get("prefix") or None,
    )


def _git(location: str, options: dict[str, Any], settings: Settings) -> Connector:
    from docsage.ingest.connectors.git import GitConnector

    include, exclude = options.get("include"), options.get("exclude")
    return GitConnector(
        location,
        ref=options.get("ref") or None,
        include=[include] if isinstance(include, str) else include,
        exclude=[exclude] if isinstance(exclude, str) else exclude,
        url_template=options.get("url_template") or None,
    )


def _openapi(location: str, options: dict[str, Any], settings: Settings) -> Connector:
    from docsage.ingest.connectors.openapi import OpenAPIConnector

    return OpenAPIConnector(
        location, allow_private=bool(options.get("allow_private", False)), timeout_s=settings.crawl_timeout_s
    )


CONNECTORS: dict[str, Factory] = {"folder": _folder, "web": _web, "git": _git, "openapi": _openapi}


def register(source_type: str, factory: Factory) -> None:
    CONNECTORS[source_type] = factory


def build_connector(source_type: str, location: str, options: dict[str, Any], settings: Settings) -> Connector:
    try:
        factory = CONNECTORS[source_type]
    except KeyError:
        raise InvalidInputError(f"unknown source type {source_type!r}; choose one of {sorted(CONNECTORS)}") from None
    return factory(location, options, settings)
