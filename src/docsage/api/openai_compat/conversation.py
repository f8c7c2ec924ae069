"""An OpenAI `messages` list as docsage sees it: the last user message is the question, earlier user and
assistant messages are the turns it is condensed with (as a thread's would be)."""

from __future__ import annotations

from docsage.answer.base import Turn
from docsage.api.openai_compat.schemas import MessageIn
from docsage.errors import InvalidInputError

MAX_QUESTION_CHARS = 5000  # as the Kapa API's query


def text_of(message: MessageIn, index: int) -> str:
    """A message's text: its string content, or its text parts joined (other parts, images, are refused)."""
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    texts = []
    for part in message.content:
        if part.type != "text" or part.text is None:
            raise InvalidInputError(f"messages.{index}.content: only text parts are supported, got {part.type!r}")
        texts.append(part.text)
    return "\n".join(texts)


def split_conversation(messages: list[MessageIn]) -> tuple[str, tuple[Turn, ...]]:
    """(question, earlier turns). System and developer messages are not followed: the answer engine's own
    grounding rules decide how to answer; tool messages carry nothing docsage asked for."""
    if messages[-1].role != "user":
        raise InvalidInputError(f"the last message must be the user's question, not {messages[-1].role!r}")
    question = text_of(messages[-1], len(messages) - 1).strip()
    if not question:
        raise InvalidInputError("the last user message is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidInputError(f"the question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}")
    turns: list[Turn] = []
    asked: str | None = None
    for i, message in enumerate(messages[:-1]):
        if message.role == "user":
            if asked is not None:  # two questions in a row: the first went unanswered
                turns.append(Turn(asked, ""))
            asked = text_of(message, i)
        elif message.role == "assistant" and asked is not None:
            turns.append(Turn(asked, text_of(message, i)))
            asked = None
    if asked is not None:
        turns.append(Turn(asked, ""))
    return question, tuple(turns)
