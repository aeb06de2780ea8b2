"""Request bodies and query bounds of the HTTP service. Every field is bounded, so a request that passes them
costs a bounded amount of work; unknown fields are refused (a misspelt field must not be silently ignored)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from recengine.serve import checks, coldstart

MAX_K = 100
MAX_CANDIDATES = 2_000
MAX_IDS = 1_000  # article ids per scores request or impression
MAX_HOURS = 24 * 366
MAX_PICKS = coldstart.MAX_PICKS  # picked categories per recommendations request


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _no_spaces(value: str) -> str:
    if value != "".join(value.split()):
        raise ValueError("must not contain whitespace")
    return value


Id = Annotated[str, Field(min_length=1, max_length=checks.MAX_LABEL_CHARS), AfterValidator(_no_spaces)]
Title = Annotated[str, Field(min_length=1, max_length=checks.MAX_TITLE_CHARS), AfterValidator(_not_blank)]
Label = Annotated[str, Field(max_length=checks.MAX_LABEL_CHARS)]
Pick = Annotated[str, Field(min_length=1, max_length=checks.MAX_LABEL_CHARS), AfterValidator(_not_blank)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoresRequest(Body):
    """POST /v1/users/{user_id}/scores"""

    article_ids: list[Id] = Field(min_length=1, max_length=MAX_IDS)


class ArticleRequest(Body):
    """POST /v1/articles: an article published after training (the id defaults to N_added_<hex>)."""

    article_id: Id | None = None
    title: Title
    abstract: Annotated[str, Field(max_length=checks.MAX_ABSTRACT_CHARS)] = ""
    category: Label = ""
    subcategory: Label = ""
    entities: list[Id] = Field(default_factory=list, max_length=checks.MAX_ENTITIES)


class ClickRequest(Body):
    """POST /v1/clicks: ``impression_id`` names the list the click came from (default: the user's latest that
    showed the article); ``time`` defaults to the server's clock."""

    user_id: Id
    article_id: Id
    impression_id: Id | None = None
    time: datetime | None = None


class ImpressionRequest(Body):
    """POST /v1/impressions: a list the client showed, and what was clicked in it."""

    user_id: Id
    shown: list[Id] = Field(min_length=1, max_length=MAX_IDS)
    clicked: list[Id] = Field(default_factory=list, max_length=MAX_IDS)
    time: datetime | None = None


class SwapRequest(Body):
    """POST /admin/swap: serve ``run`` (a stored run id or a run folder on the server) on ``arm``."""

    run: Annotated[str, Field(min_length=1, max_length=4096)]
    arm: Literal["A", "B"] = "A"
