"""OpenAI chat-completions wire format (what the official `openai` SDK sends and reads), with docsage's
extension fields: `sources`, `is_uncertain` and `question_answer_id`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, refusal…: read by nobody here

    role: Role
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionIn(BaseModel):
    """The request. Sampling and tool parameters are accepted and ignored: answers come from the docs."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=300)
    messages: list[MessageIn] = Field(min_length=1, max_length=500)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1)
    user: str | None = Field(default=None, max_length=200, description="Your end user's id (server-side keys).")


class SourceOut(BaseModel):
    """A cited page; `sources[n-1]` is what the answer's `[[n]](url)` links to."""

    title: str
    url: str
    subtitle: str


class MessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class Choice(BaseModel):
    index: int = 0
    message: MessageOut
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: None = None
    sources: list[SourceOut] = Field(description="docsage extension: the cited pages, in citation order.")
    is_uncertain: bool = Field(description="docsage extension: the docs may not cover the question.")
    question_answer_id: str | None = Field(
        description="docsage extension: the stored answer, for feedback through the other APIs."
    )


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "docsage"
    project_id: str = Field(description="docsage extension: the project this model answers from.")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


def chunk(completion_id: str, created: int, model: str, delta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One `chat.completion.chunk` (built as a dict: streams write many, validation would only cost time)."""
    finish = extra.pop("finish_reason", None)
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        **extra,
    }
