"""Slack messages as the outbox holds them: `GET /messages` (failed ones included, with their
last error) and `POST /messages/test`, which queues a test message for the delivery job.

A row's `Status` is `pending` (not delivered yet; also while no webhook is configured), `sent`,
`failed` (Slack refused it: not retried, `LastError` says why) or `skipped` (a reminder that
was no longer due when its turn came).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from oncall_opt.api.common import (
    DEFAULT_LIMIT,
    CursorQuery,
    IdPath,
    JSONBodyRoute,
    LimitQuery,
    RequestBody,
    UtcTime,
    cursor_id,
    next_cursor,
    now_of,
    store_of,
)
from oncall_opt.engine import outbox
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.text import clean
from oncall_opt.errors import InvalidRequestError, NotFoundError

router = APIRouter(route_class=JSONBodyRoute, tags=["messages"])

STATUSES = ("pending", "sent", "failed", "skipped")
TEST_KIND = "test"
DEFAULT_TEST_TEXT = "Test message from oncall_opt: Slack delivery works."
MAX_TEXT = outbox.MAX_MESSAGE_CHARS
_COLUMNS = (
    "id, kind, text, incident_ids, status, attempts, created_at, next_attempt_at, sent_at, "
    "last_error"
)


class MessageOut(BaseModel):
    Id: int
    Kind: str
    Text: str
    Status: str
    Attempts: int
    CreatedAt: UtcTime
    NextAttemptAt: UtcTime | None = None
    SentAt: UtcTime | None = None
    LastError: str | None = None
    IncidentIds: list[int] = []

    @classmethod
    def of(cls, row: dict[str, Any]) -> MessageOut:
        return cls(
            Id=row["id"],
            Kind=row["kind"],
            Text=row["text"],
            Status=row["status"],
            Attempts=row["attempts"],
            CreatedAt=row["created_at"],
            NextAttemptAt=row["next_attempt_at"] if row["status"] == "pending" else None,
            SentAt=row["sent_at"],
            LastError=row["last_error"],
            IncidentIds=json.loads(row["incident_ids"]) if row["incident_ids"] else [],
        )


class MessageList(BaseModel):
    Items: list[MessageOut]
    NextCursor: str | None = None  # give it as Cursor for the next (older) page


def list_messages(
    store: Store, status: str = "all", limit: int = 100, before_id: int | None = None
) -> list[dict[str, Any]]:
    """Outbox rows, newest first, ids below `before_id`; `status` one of STATUSES or `all`."""
    if status not in (*STATUSES, "all"):
        raise InvalidRequestError("Status", f"must be one of {', '.join(STATUSES)} or all")
    sql, params = f"SELECT {_COLUMNS} FROM outbox WHERE 1 = 1", []
    if status != "all":
        sql += " AND status = ?"
        params.append(status)
    if before_id is not None:
        sql += " AND id < ?"
        params.append(before_id)
    return store.rows(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])


def queue_test_message(store: Store, text: str | None, now: datetime) -> dict[str, Any]:
    """Queue a test message (kind `test`) for the delivery job; returns its outbox row."""
    text = clean("Text", text or "", MAX_TEXT, multiline=True) or DEFAULT_TEST_TEXT

    def work(tx: Transaction) -> dict[str, Any]:
        message_id = outbox.enqueue(tx, TEST_KIND, outbox.esc(text), now)
        row = tx.row(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", [message_id])
        assert row is not None
        return row

    return store.write(work)


@router.get("/messages", response_model=MessageList)
def messages(
    request: Request,
    status: Annotated[
        str, Query(alias="Status", description="pending, sent, failed, skipped or all")
    ] = "all",
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> MessageList:
    """Slack messages in the outbox, newest first, with their delivery status, a page at a
    time (`Limit`, then `Cursor` set to the answer's `NextCursor`)."""
    rows = list_messages(store_of(request), status, limit + 1, cursor_id(cursor))
    return MessageList(
        Items=[MessageOut.of(r) for r in rows[:limit]],
        NextCursor=next_cursor([r["id"] for r in rows], limit),
    )


@router.get("/messages/{id}", response_model=MessageOut)
def message(id: IdPath, request: Request) -> MessageOut:
    row = store_of(request).row(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", [id])
    if row is None:
        raise NotFoundError(f"no message with id {id}")
    return MessageOut.of(row)


class TestMessageIn(RequestBody):
    Text: str | None = Field(None, description=f"default: {DEFAULT_TEST_TEXT!r}")


@router.post("/messages/test", response_model=MessageOut, status_code=201)
def test_message(request: Request, params: TestMessageIn | None = None) -> MessageOut:
    """Queue a test Slack message; the delivery job posts it like any other (watch its Status)."""
    text = params.Text if params is not None else None
    return MessageOut.of(queue_test_message(store_of(request), text, now_of(request)))
