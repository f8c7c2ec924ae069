"""Embedding providers behind one interface and registry."""

from docsage.embed.base import Embedder, Vectors
from docsage.embed.registry import PROVIDERS, get_embedder

__all__ = ["PROVIDERS", "Embedder", "Vectors", "get_embedder"]
