"""An answer stream closed by its reader mid-way still stores the question, flagged interrupted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from conftest import open_services
from docsage.answer.events import IdentifiersEvent, TextDelta
from docsage.chat.service import ChatRequest
from docsage.db.models import QuestionAnswer


def test_closing_the_stream_after_the_first_words_keeps_the_question(
    tmp_path: Path, make_docs: Callable[[Path], Path]
) -> None:
    with open_services(tmp_path / "home") as services:
        project = services.projects.create_project("Skyloom")
        source = services.projects.add_source(project.id, "folder", str(make_docs(tmp_path)))
        assert services.ingest.run(source.id).status == "succeeded"

        whole = list(services.chat.stream(ChatRequest(project.id, "How do I verify webhook signatures?")))
        full_text = "".join(e.text for e in whole if isinstance(e, TextDelta))
        assert isinstance(whole[-1], IdentifiersEvent)

        events = services.chat.stream(ChatRequest(project.id, "How do I verify webhook signatures?"))
        sent = ""
        for event in events:
            if isinstance(event, TextDelta):
                sent += event.text
                break
        events.close()  # what a disconnecting client amounts to

        with services.database.session() as session:
            stored = session.scalars(select(QuestionAnswer).order_by(QuestionAnswer.created_at)).all()
        assert [qa.interrupted for qa in stored] == [False, True]
        complete, cut = stored
        assert complete.answer == full_text
        assert cut.question == "How do I verify webhook signatures?"
        assert cut.answer == sent and len(sent) < len(full_text)
        assert cut.relevant_sources == complete.relevant_sources
        assert cut.is_uncertain is False, "the docs cover it: retrieval's verdict is kept when no verdict came"
        assert cut.thread_id != complete.thread_id
