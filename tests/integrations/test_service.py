"""ChatAppService on real SQLite: routing by channel then workspace, deliveries taken on once, chat-app threads
continued as docsage threads, feedback only on the integration's own answers."""

from __future__ import annotations

import pytest

from docsage.chat.service import EndUserInfo
from docsage.errors import ConflictError, InvalidInputError, NotFoundError
from docsage.services import Services


def test_a_channel_integration_wins_over_its_workspace(services: Services) -> None:
    project = services.projects.create_project("docs")
    workspace = services.projects.create_integration(project.id, "SLACK_WORKSPACE", "Acme", external_id="T1")
    channel = services.projects.create_integration(project.id, "SLACK_CHANNEL", "#help", external_id="C1")
    apps = services.chat_apps
    assert apps.route("slack", "C1", "T1").integration_id == channel.id  # type: ignore[union-attr]
    assert apps.route("slack", "C2", "T1").integration_id == workspace.id  # type: ignore[union-attr]
    assert apps.route("slack", "C2", "T2") is None
    assert apps.route("discord", "C1", "T1") is None  # ids are per platform
    route = apps.route("slack", "C2", "T1")
    assert route is not None and route.project_id == project.id and route.team_id == project.team_id


def test_a_disabled_integration_answers_nothing(services: Services) -> None:
    project = services.projects.create_project("docs")
    integration = services.projects.create_integration(project.id, "DISCORD_SERVER", "guild", external_id="G1")
    with services.database.session() as session:
        from docsage.db.integrations import IntegrationRepository

        row = IntegrationRepository(session).get(integration.id)
        assert row is not None
        row.is_enabled = False
    assert services.chat_apps.route("discord", "C1", "G1") is None


def test_an_external_id_belongs_to_one_chat_app_integration(services: Services) -> None:
    project = services.projects.create_project("docs")
    other = services.projects.create_project("other docs")
    services.projects.create_integration(project.id, "SLACK_CHANNEL", "#help", external_id="C1")
    with pytest.raises(ConflictError):
        services.projects.create_integration(other.id, "SLACK_CHANNEL", "#help too", external_id="C1")
    with pytest.raises(InvalidInputError):
        services.projects.create_integration(project.id, "API", "backend", external_id="C1")
    # The same id as another type is another thing (a workspace id is never a channel id, but nothing clashes).
    services.projects.create_integration(other.id, "SLACK_WORKSPACE", "Acme", external_id="C1")


def test_a_delivery_is_taken_on_once(services: Services) -> None:
    apps = services.chat_apps
    assert apps.take_delivery("slack", "T1:C1:1.0") is True
    assert apps.take_delivery("slack", "T1:C1:1.0") is False
    assert apps.take_delivery("discord", "T1:C1:1.0") is True


def test_a_conversation_continues_one_thread_and_feedback_stays_with_its_integration(services: Services) -> None:
    project = services.projects.create_project("docs")
    services.projects.create_integration(project.id, "SLACK_WORKSPACE", "Acme", external_id="T1")
    services.projects.create_integration(project.id, "SLACK_CHANNEL", "#help", external_id="C9")
    apps = services.chat_apps
    route = apps.route("slack", "C1", "T1")
    assert route is not None
    user = EndUserInfo(slack_id="U1")
    first = apps.ask("slack", route, "How do I install it?", user=user, conversation_key="T1:C1:1.0")
    second = apps.ask("slack", route, "And upgrade it?", user=user, conversation_key="T1:C1:1.0")
    other = apps.ask("slack", route, "How do I install it?", user=user, conversation_key="T1:C1:2.0")
    assert first.thread_id == second.thread_id != other.thread_id
    assert first.is_uncertain  # nothing is indexed: the answer says so

    apps.rate(route, first.question_answer_id, "slack:U1", "upvote")
    channel_route = apps.route("slack", "C9", "T1")
    assert channel_route is not None
    with pytest.raises(NotFoundError):  # an answer given through the workspace is not rated through #help
        apps.rate(channel_route, first.question_answer_id, "slack:U1", "upvote")
