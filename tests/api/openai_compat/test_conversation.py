"""An OpenAI `messages` list read as a question and the earlier turns it follows."""

from __future__ import annotations

from typing import Any

import pytest

from docsage.answer.base import Turn
from docsage.api.openai_compat.conversation import split_conversation
from docsage.api.openai_compat.schemas import MessageIn
from docsage.errors import InvalidInputError


def messages(*pairs: tuple[str, Any]) -> list[MessageIn]:
    return [MessageIn.model_validate({"role": role, "content": content}) for role, content in pairs]


def test_the_last_user_message_is_the_question_and_earlier_exchanges_the_turns() -> None:
    question, turns = split_conversation(
        messages(
            ("system", "Be brief."),
            ("user", "How often does the daemon sync?"),
            ("assistant", "Every 30 seconds [[1]](https://docs.example/config)."),
            ("developer", "Cite sources."),
            ("user", [{"type": "text", "text": "How do I"}, {"type": "text", "text": "change it?"}]),
            ("assistant", None),
            ("tool", "{}"),
            ("user", "  And on Windows?  "),
        )
    )
    assert question == "And on Windows?"
    assert turns == (
        Turn("How often does the daemon sync?", "Every 30 seconds [[1]](https://docs.example/config)."),
        Turn("How do I\nchange it?", ""),
    )


def test_a_question_left_unanswered_is_still_a_turn() -> None:
    question, turns = split_conversation(messages(("user", "First?"), ("user", "Second?")))
    assert question == "Second?" and turns == (Turn("First?", ""),)


@pytest.mark.parametrize(
    ("pairs", "problem"),
    [
        ([("user", "Hi"), ("assistant", "Hello")], "the last message must be the user's question"),
        ([("user", "")], "the last user message is empty"),
        ([("user", None)], "the last user message is empty"),
        ([("user", "x" * 5001)], "5001 characters long; the limit is 5000"),
        ([("user", [{"type": "input_audio", "input_audio": {}}])], "only text parts are supported"),
    ],
)
def test_what_cannot_be_answered_is_invalid_input(pairs: list[tuple[str, Any]], problem: str) -> None:
    with pytest.raises(InvalidInputError, match=problem):
        split_conversation(messages(*pairs))
