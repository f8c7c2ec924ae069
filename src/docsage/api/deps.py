"""HTTP glue every surface shares: the services dependency, the caller as a principal, and the rate budgets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from docsage.ratelimit import enforce
from docsage.services import Services


@dataclass(frozen=True)
class Principal:
    """Who a request counts against: a key (or a widget integration) of one project of one team."""

    key_id: str
    project_id: str
    team_id: str


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in the thread pool, a hop that
# costs more than the work here (authentication is answered from a cache while nothing has been committed).
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def limit_chat(services: Services, who: Principal) -> None:
    """The team's budget: server-side keys only (anonymous traffic goes through `limit_public_chat`)."""
    enforce(services.rate_limiter, f"chat:{who.team_id}", services.settings.rate_limit_chat_per_min, "chat")


def limit_public_chat(services: Services, budget_id: str, client_ip: str | None) -> None:
    """Anonymous chat through a public credential (a widget's integration id, a public key's id): one budget per
    client IP and one for the credential as a whole, both apart from the team's, so public traffic can never
    starve a team's server-side calls.

    The client's budget is checked first: a client past its own limit is refused without counting against the
    credential's total, so one client cannot use up everyone's share by being refused.
    """
    settings = services.settings
    if client_ip:
        enforce(
            services.rate_limiter,
            f"public-chat:{budget_id}:{client_ip}",
            settings.rate_limit_public_chat_per_min,
            "chat from one client",
        )
    enforce(
        services.rate_limiter,
        f"public-chat:{budget_id}",
        settings.rate_limit_public_chat_per_min_total,
        "public chat through this website id or key",
    )


def limit_retrieval(services: Services, who: Principal) -> None:
    enforce(
        services.rate_limiter,
        f"retrieval:{who.team_id}",
        services.settings.rate_limit_retrieval_per_min,
        "retrieval",
    )


def limit_uploads(services: Services, key_id: str) -> None:
    """Document uploads per key: each one is parsed and embedded by a background job."""
    enforce(services.rate_limiter, f"uploads:{key_id}", services.settings.rate_limit_uploads_per_min, "upload")
