"""Tests of docsage.ingest."""
