"""The OpenAI-compatible API: `/v1/chat/completions` and `/v1/models` over the shared chat service."""
