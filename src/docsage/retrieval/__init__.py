"""Retrieval: hybrid lexical + dense search over a project's chunks."""

from docsage.retrieval.service import RetrievalService
from docsage.retrieval.types import Hit

__all__ = ["Hit", "RetrievalService"]
