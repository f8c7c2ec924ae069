"""Chatbot API (/api/v1): Bearer keys locked to origins, SSE chat, usage, sessions, documents."""
