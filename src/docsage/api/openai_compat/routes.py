"""The OpenAI-compatible API (`/v1/chat/completions`, `/v1/models`): a thin adapter over the chat service.

A bearer key answers from its one project, which is also the only model it sees: the model id is the
project's name (its id is accepted too). Any other model is 404 `model_not_found`, so a request meant for
other docs never gets an answer from these.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from docsage.api.bearer import BearerKey, authenticate_bearer
from docsage.api.deps import ServicesDep
from docsage.api.openai_compat.conversation import split_conversation
from docsage.api.openai_compat.errors import ModelNotFoundError, OpenAIRoute
from docsage.api.openai_compat.schemas import (
    ChatCompletionIn,
    ChatCompletionOut,
    Choice,
    ErrorOut,
    MessageOut,
    ModelList,
    ModelOut,
    Usage,
)
from docsage.api.openai_compat.stream import completion_sources, sse_chunks
from docsage.chat.service import ChatRequest, EndUserInfo, collect
from docsage.db.models import Project
from docsage.errors import DocsageError
from docsage.services import Services

router = APIRouter(
    prefix="/v1",
    route_class=OpenAIRoute,
    tags=["OpenAI-compatible"],
    responses={status: {"model": ErrorOut} for status in (400, 401, 403, 404, 429)},
)


async def bearer_key(request: Request, services: ServicesDep) -> BearerKey:
    headers = request.headers
    client_ip = request.client.host if request.client else None
    return authenticate_bearer(services, headers.get("authorization"), headers.get("origin"), client_ip)


KeyDep = Annotated[BearerKey, Depends(bearer_key)]


def model_out(project: Project) -> ModelOut:
    return ModelOut(id=project.name, created=int(project.created_at.timestamp()), project_id=project.id)


def resolve_model(services: Services, key: BearerKey, model: str) -> Project:
    """The key's project, if `model` names it (by name, any case, or by id)."""
    project = services.projects.get_project(key.project_id)
    if model != project.id and model.strip().casefold() != project.name.strip().casefold():
        raise ModelNotFoundError(model)
    return project


@router.get("/models", response_model=ModelList, summary="List models")
def list_models(key: KeyDep, services: ServicesDep) -> ModelList:
    """One model: the key's project."""
    return ModelList(data=[model_out(services.projects.get_project(key.project_id))])


@router.get("/models/{model:path}", response_model=ModelOut, summary="Retrieve a model")
def get_model(model: str, key: KeyDep, services: ServicesDep) -> ModelOut:
    return model_out(resolve_model(services, key, model))


@router.post("/chat/completions", response_model=ChatCompletionOut, summary="Create a chat completion")
def chat_completions(body: ChatCompletionIn, key: KeyDep, services: ServicesDep) -> Response:
    """Answer the last user message from the docs, with earlier messages as the conversation it follows.

    The answer cites its sources as markdown links `[[n]](url)`; `sources` lists them (`sources[n-1]`), on the
    response or, streamed, on the chunk with `finish_reason`. `stream_options.include_usage` adds OpenAI's
    final usage chunk.
    """
    key.require("chat")
    project = resolve_model(services, key, body.model)
    question, history = split_conversation(body.messages)
    key.limit_chat(services)
    request = ChatRequest(
        project_id=project.id,
        query=question,
        history=history,
        api_key_id=key.principal.key_id,
        # What a public key's caller says about its user is a claim anyone could make: not recorded.
        user=EndUserInfo(unique_client_id=body.user) if body.user and not key.public else None,
        bind_session=key.public,
    )
    events = services.chat.stream(request)
    created = int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            sse_chunks(events, project.name, created, include_usage),
            media_type="text/event-stream; charset=utf-8",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    done = collect(events)
    if done.ids is None:
        raise DocsageError("the answer could not be stored")
    prompt, completion = (done.meta.prompt_tokens, done.meta.completion_tokens) if done.meta else (0, 0)
    out = ChatCompletionOut(
        id=f"chatcmpl-{done.ids.thread_id}",
        created=created,
        model=project.name,
        choices=[Choice(message=MessageOut(content=done.text))],
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion),
        sources=completion_sources(done.hits),
        is_uncertain=done.meta.is_uncertain if done.meta else True,
        question_answer_id=done.ids.question_answer_id,
    )
    return Response(out.model_dump_json(), media_type="application/json")
