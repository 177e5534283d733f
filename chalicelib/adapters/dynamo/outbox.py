"""The email outbox: every email is stored before it is sent, then sent and marked."""
from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from ...domain.errors import AlreadyExists, ConcurrentUpdate
from ...domain.outbox import PENDING, OutboxMessage
from .tables import OutboxTable


def _to_domain(i: OutboxTable) -> OutboxMessage:
    return OutboxMessage(
        i.message_id, i.kind, tuple(i.recipients), i.subject, bytes(i.raw), i.status,
        int(i.attempts), i.created_at, i.next_attempt_at, i.sent_at, i.last_error,
    )


def outbox_item(msg: OutboxMessage) -> OutboxTable:
    """The item of a new message, pending (``attempts`` as given): for ``add`` and for the
    transaction of a state change that causes it."""
    return OutboxTable(
        msg.message_id, kind=msg.kind, recipients=list(msg.recipients), subject=msg.subject,
        raw=msg.raw, status=PENDING, pending=PENDING, attempts=msg.attempts, created_at=msg.created_at,
        next_attempt_at=msg.next_attempt_at,
    )


NEW_MESSAGE = OutboxTable.message_id.does_not_exist()


class DynamoOutbox:
    def add(self, msg: OutboxMessage) -> None:
        """Store a new message, pending (``attempts`` as given); ``AlreadyExists`` if its id is taken."""
        try:
            outbox_item(msg).save(condition=NEW_MESSAGE)
        except PutError as error:
            if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
                raise AlreadyExists("message already in the outbox") from error
            raise

    def get(self, message_id: str) -> OutboxMessage | None:
        try:
            return _to_domain(OutboxTable.get(message_id, consistent_read=True))
        except DoesNotExist:
            return None

    def claim(self, message_id: str, now: datetime, lease: timedelta) -> OutboxMessage:
        """Take the message for sending: only one worker wins, until its lease ends."""
        item = OutboxTable(message_id)
        try:
            item.update(
                actions=[OutboxTable.next_attempt_at.set(now + lease), OutboxTable.attempts.add(1)],
                condition=(OutboxTable.status == PENDING) & (OutboxTable.next_attempt_at <= now),
            )
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
                raise ConcurrentUpdate("message already taken or sent") from error
            raise
        return _to_domain(item)

    def mark_sent(self, message_id: str, now: datetime) -> None:
        OutboxTable(message_id).update(actions=[
            OutboxTable.status.set("sent"), OutboxTable.pending.remove(),
            OutboxTable.sent_at.set(now), OutboxTable.last_error.remove(),
        ])

    def mark_failed(self, message_id: str, error: str, retry_at: datetime | None) -> None:
        """Record a failed attempt; ``retry_at`` None gives up for good."""
        actions = [OutboxTable.last_error.set(error[:500])]
        if retry_at is None:
            actions += [OutboxTable.status.set("failed"), OutboxTable.pending.remove()]
        else:
            actions.append(OutboxTable.next_attempt_at.set(retry_at))
        OutboxTable(message_id).update(actions=actions)

    def due(self, now: datetime, limit: int = 100) -> list[str]:
        """Ids of pending messages whose next attempt is due."""
        query = OutboxTable.by_pending.query(
            PENDING, OutboxTable.next_attempt_at <= now, limit=limit
        )
        return [i.message_id for i in query]
