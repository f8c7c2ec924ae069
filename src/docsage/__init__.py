"""docsage: a self-hostable 'ask the docs' service."""

__version__ = "0.1.0"
