"""Tests of docsage.retrieval."""
