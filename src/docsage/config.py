"""The one typed settings object, read from DOCSAGE_* environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_CHUNK_TOKENS = 64  # below this a chunk is a sentence or two: too little for either retriever to rank


class Settings(BaseSettings):
    """Every setting docsage reads; each maps to the env variable DOCSAGE_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="DOCSAGE_", extra="ignore")

    home: Path = Field(default=Path("~/.docsage"), description="Directory holding the SQLite database and state.")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means sqlite:///$DOCSAGE_HOME/docsage.db.")
    redis_url: str = Field(
        default="",
        description="Redis shared by several replicas (redis://host:6379/0): rate limits count across all of them, "
        "commits are announced so every replica's caches follow at once, idle workers wake for new jobs. Empty: "
        "no Redis (one process needs none).",
    )

    embedding_provider: str = Field(default="local", description="'local' (bundled MiniLM ONNX) or 'openai'.")
    embedding_base_url: str = Field(default="", description="Base URL of an OpenAI-compatible embeddings API.")
    embedding_model: str = Field(default="text-embedding-3-small", description="Model name for the openai provider.")
    embedding_api_key: str = Field(default="", description="API key for the openai embedding provider.")
    embedding_threads: int = Field(default=0, description="ONNX Runtime intra-op threads; 0 means all cores.")
    embedding_batch_size: int = Field(default=32, description="Chunks per embedding batch.")

    llm_provider: str = Field(default="extractive", description="'extractive' (offline) or 'openai'.")
    llm_base_url: str = Field(default="", description="Base URL of an OpenAI-compatible chat API.")
    llm_model: str = Field(default="gpt-4o-mini", description="Chat model for the openai provider.")
    llm_api_key: str = Field(default="", description="API key for the openai LLM provider.")
    llm_timeout_s: float = Field(default=60.0, description="Timeout for one LLM request, seconds.")

    chunk_tokens: int = Field(
        default=0,
        description="Longest chunk, in the embedder's tokens with the page title and heading path, capped at the "
        "embedder's window; 0: the embedder's own size (192 for the bundled model, which ranks them better than "
        "its whole 256-token window: docs/retrieval.md; a remote embedder's window). A change re-chunks each "
        "document at its next ingest.",
    )
    retrieval_top_k: int = Field(default=8, description="Passages given to the answer engine.")
    retrieval_candidates: int = Field(default=300, description="Candidates taken from each retriever before fusion.")
    pgvector_ef_search: int = Field(
        default=800,
        ge=0,
        le=1000,
        description="PostgreSQL: HNSW search breadth (pgvector's hnsw.ef_search) for the dense candidates, at "
        "least DOCSAGE_RETRIEVAL_CANDIDATES (0: just that). Higher finds more of the exact neighbours and costs "
        "more time (800: recall@10 0.99 instead of 0.96 at 100k chunks for ~5 ms; docs/retrieval.md). A project "
        "that is a share of a table shared with others gets proportionally more, up to 1000 (pgvector filters "
        "after the index scan).",
    )
    pgvector_ivfflat_probes: int = Field(
        default=0,
        ge=0,
        description="PostgreSQL with an IVFFlat vector index (`docsage vector-index rebuild --method ivfflat`): "
        "lists searched for the dense candidates (pgvector's ivfflat.probes; 0: a fiftieth of the lists, at least "
        "10). At 1M chunks and 1,000 lists, 20 probes gave recall@10 0.995 (docs/retrieval.md). A project that is "
        "a share of the table gets proportionally more.",
    )
    pgvector_exact_below: int = Field(
        default=20_000,
        ge=0,
        description="PostgreSQL: projects (or source filters) with fewer chunks than this are searched exactly, "
        "by a scan of their rows, instead of through the HNSW index shared by every project.",
    )
    fusion: str = Field(default="zscore", description="How hybrid search fuses BM25 and dense: 'zscore' or 'rrf'.")
    fusion_alpha: float = Field(default=0.5, description="Weight of BM25 in z-score fusion (dense gets 1 - alpha).")
    rrf_k: int = Field(default=60, description="Reciprocal rank fusion constant (fusion = 'rrf').")
    page_temperature: float = Field(
        default=0.5,
        ge=0,
        description="z-score fusion: how much a page's other passages add to its best one (the temperature of a "
        "soft maximum over the page's fused scores, in standard deviations). 0: a page counts by its best passage.",
    )
    page_cross_weight: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="z-score fusion: weight, in a page's score, of its best BM25 passage and its best embedding "
        "passage fused even when they are different passages. 0: only passages fused one by one count.",
    )
    search_threads: int = Field(
        default=0,
        ge=0,
        description="Searches the server runs at once (query embedding + index search; more requests queue). "
        "0: one per CPU core, which gave the best throughput (more threads only contend for the GIL).",
    )
    coverage_strong_share: float = Field(
        default=0.4,
        ge=0.0,
        le=1.0,
        description="The docs cover a question when one retrieved passage holds this share of the question's term "
        "weight (BM25 IDF of its words, title and headings included)...",
    )
    coverage_weak_share: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description="...or this share, when BM25 and the embedding rank the same passage first (or one is "
        "DOCSAGE_COVERAGE_CLOSE_COSINE close). Otherwise the answer is marked uncertain. See docs/answers.md.",
    )
    coverage_agreement_rank: int = Field(
        default=1,
        ge=1,
        description="BM25 and the embedding agree on a passage when both rank it this high or higher.",
    )
    coverage_close_cosine: float = Field(
        default=0.7,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity of a passage so close to the question that "
        "DOCSAGE_COVERAGE_WEAK_SHARE of its words suffice.",
    )
    coverage_off_topic_cosine: float = Field(
        default=0.3,
        ge=-1.0,
        le=1.0,
        description="A question no passage comes this close to (and with less than DOCSAGE_COVERAGE_WEAK_SHARE of "
        "its words anywhere) is off topic: an LLM provider is then told not to guess; otherwise the model decides.",
    )

    crawl_max_pages: int = Field(default=500, description="Default page limit of the website connector.")
    crawl_concurrency: int = Field(default=4, description="Concurrent requests of the website connector.")
    crawl_timeout_s: float = Field(default=20.0, description="Timeout of one website request, seconds.")
    crawl_user_agent: str = Field(default="docsage-crawler/0.1", description="User agent sent by the crawler.")

    rate_limit_chat_per_min: int = Field(default=20, description="Chat requests per minute per team (0: no limit).")
    rate_limit_retrieval_per_min: int = Field(
        default=60, description="Retrieval and search requests per minute per team (0: no limit)."
    )
    rate_limit_public_chat_per_min: int = Field(
        default=10,
        ge=0,
        description="Anonymous chat requests per minute from one client IP through one public widget id or public "
        "key (0: no limit). Public traffic never counts against the team's server-side limit.",
    )
    rate_limit_public_chat_per_min_total: int = Field(
        default=60,
        ge=0,
        description="Anonymous chat requests per minute through one public widget id or public key, all clients "
        "together (0: no limit): one busy site cannot exhaust the others or the team's server-side budget.",
    )
    max_body_bytes: int = Field(default=1_048_576, description="Largest accepted JSON request body, bytes.")

    prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="Extra or overriding model prices, USD per million tokens, as JSON: "
        '{"my-model": [input, output]}. Built-in list prices cover common OpenAI models; local models cost 0.',
    )
    upload_max_bytes: int = Field(default=10_485_760, description="Largest document upload, bytes.")
    rate_limit_uploads_per_min: int = Field(
        default=30, ge=0, description="Document uploads per minute per API key (0: no limit)."
    )
    parse_max_pdf_pages: int = Field(
        default=1000, ge=1, description="PDFs with more pages fail to index with a clear error (page-count bombs)."
    )
    parse_max_chars: int = Field(
        default=10_000_000,
        ge=1,
        description="Documents whose text (as decoded or extracted) exceeds this many characters fail to index.",
    )
    job_workers: int = Field(
        default=1,
        ge=0,
        description="Threads of `docsage serve` that run background jobs (ingests, uploads). 0 when dedicated "
        "`docsage worker` processes run them.",
    )
    job_stale_after_s: float = Field(
        default=60.0,
        gt=0,
        description="A running job whose worker has not reported for this long (killed, machine gone) is "
        "claimed again by another worker.",
    )
    refresh_check_s: float = Field(
        default=15.0,
        gt=0,
        description="How often each job runner (`docsage serve` with DOCSAGE_JOB_WORKERS > 0, each `docsage "
        "worker`) looks for sources whose scheduled refresh is due, seconds.",
    )

    admin_password: str = Field(
        default="", description="If set, creates a dashboard user `admin` with this password on first start."
    )
    admin_login_max_failures: int = Field(
        default=5,
        ge=0,
        description="Failed dashboard logins for one username before it is locked out (0: no limit). Each further "
        "lockout lasts twice as long; a correct password is refused too while it lasts.",
    )
    admin_login_max_failures_per_ip: int = Field(
        default=20,
        ge=0,
        description="Failed dashboard logins from one client address before it is locked out (0: no limit).",
    )
    admin_login_lockout_s: float = Field(
        default=60.0, gt=0, description="The first lockout after too many failed dashboard logins, seconds."
    )

    slack_signing_secret: str = Field(
        default="",
        description="Signing secret of the Slack app (Basic Information > App Credentials): every request to "
        "/slack/events must carry its signature. Empty: the Slack endpoint is off (404).",
    )
    slack_bot_token: str = Field(
        default="", description="Bot token (xoxb-…) the Slack app posts answers with (OAuth & Permissions)."
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", description="Base URL of the Slack Web API the answers are posted to."
    )
    discord_public_key: str = Field(
        default="",
        description="Public key of the Discord application (General Information), 64 hex digits: every request to "
        "/discord/interactions must carry its Ed25519 signature. Empty: the Discord endpoint is off (404).",
    )
    discord_api_url: str = Field(
        default="https://discord.com/api/v10",
        description="Base URL of the Discord API the deferred answers are sent to (interaction webhooks).",
    )

    host: str = Field(default="127.0.0.1", description="Host `docsage serve` binds to.")
    port: int = Field(default=8000, description="Port `docsage serve` binds to.")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Comma-separated addresses (or '*') of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto `docsage serve` trusts: the client address (login throttling) and https (the Secure "
        "dashboard cookie) come from them.",
    )

    @field_validator("chunk_tokens")
    @classmethod
    def _chunk_tokens_floor(cls, value: int) -> int:
        if value != 0 and value < MIN_CHUNK_TOKENS:
            raise ValueError(f"should be 0 (the embedder's own size) or at least {MIN_CHUNK_TOKENS}")
        return value

    def resolved_search_threads(self) -> int:
        return self.search_threads or os.cpu_count() or 1

    def resolved_home(self) -> Path:
        return self.home.expanduser()

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home() / 'docsage.db'}"


def settings_problems(exc: ValidationError) -> str:
    """A settings validation error as one line that names the environment variables: "DOCSAGE_X='v': reason"."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    problems = []
    for err in exc.errors():
        name = prefix + "_".join(str(part) for part in err["loc"]).upper()
        value = f"={err['input']!r}" if isinstance(err.get("input"), str | int | float) else ""
        problems.append(f"{name}{value}: {err['msg']}")
    return "; ".join(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
