"""Feedback on answers (upserted per user) and support-ticket outcomes for deflection analytics."""

from __future__ import annotations

import json
from typing import Any

from docsage.db.conversations import FeedbackRepository, QuestionAnswerRepository, TicketOutcomeRepository
from docsage.db.engine import Database
from docsage.db.integrations import IntegrationRepository
from docsage.db.models import Feedback, TicketOutcome, utcnow
from docsage.errors import InvalidInputError, NotFoundError

REACTIONS = ("upvote", "downvote")


class FeedbackService:
    def __init__(self, database: Database) -> None:
        self.database = database

    def upsert(
        self,
        project_id: str,
        qa_id: str,
        user_identifier: str,
        reaction: str,
        comment: dict[str, Any] | None,
        api_key_id: str | None = None,
        integration_id: str | None = None,
    ) -> Feedback:
        """One feedback record per (question-answer, user): a second call updates the first. With api_key_id
        or integration_id, only answers given through that key or integration (a public caller rates its own
        answers, not every answer of the project)."""
        if reaction not in REACTIONS:
            raise InvalidInputError(f"reaction must be one of {', '.join(REACTIONS)}")
        try:  # a comment decoded from a JSON string can hold lone surrogates no UTF-8 column can store
            json.dumps(comment, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInputError("comment contains a lone UTF-16 surrogate, which is not valid text") from None
        with self.database.session() as session:
            qa = QuestionAnswerRepository(session).get(qa_id)
            if (
                qa is None
                or qa.project_id != project_id
                or (api_key_id is not None and qa.api_key_id != api_key_id)
                or (integration_id is not None and qa.integration_id != integration_id)
            ):
                raise NotFoundError(f"question answer {qa_id} not found")
            repo = FeedbackRepository(session)
            feedback = repo.find(qa_id, user_identifier)
            if feedback is None:
                return repo.add(
                    Feedback(
                        question_answer_id=qa_id, user_identifier=user_identifier, reaction=reaction, comment=comment
                    )
                )
            feedback.reaction, feedback.comment, feedback.updated_at = reaction, comment, utcnow()
            session.flush()
            return feedback

    def record_ticket(
        self, project_id: str, qa_id: str, ticket_filed: bool, integration_id: str | None
    ) -> TicketOutcome:
        """Whether the user still filed the support ticket after reading the answer (latest report wins)."""
        with self.database.session() as session:
            qa = QuestionAnswerRepository(session).get(qa_id)
            if qa is None or qa.project_id != project_id:
                raise NotFoundError(f"question answer {qa_id} not found")
            integration_id = integration_id or qa.integration_id
            if integration_id is None:
                raise InvalidInputError(
                    "ticket outcomes belong to a SUPPORT_FORM_DEFLECTOR integration: pass its integration_id"
                )
            if integration_id is not None:
                integration = IntegrationRepository(session).get(integration_id)
                if integration is None or integration.project_id != project_id:
                    raise NotFoundError(f"integration {integration_id} not found")
                if integration.integration_type != "SUPPORT_FORM_DEFLECTOR":
                    raise InvalidInputError("ticket outcomes belong to a SUPPORT_FORM_DEFLECTOR integration")
            repo = TicketOutcomeRepository(session)
            outcome = repo.for_question_answer(qa_id)
            if outcome is None:
                outcome = repo.add(
                    TicketOutcome(
                        project_id=project_id,
                        integration_id=integration_id,
                        question_answer_id=qa_id,
                        deflected=not ticket_filed,
                    )
                )
            else:
                outcome.deflected, outcome.integration_id = not ticket_filed, integration_id
                session.flush()
            return outcome
