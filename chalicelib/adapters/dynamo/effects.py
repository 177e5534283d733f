"""What a state change causes, written in the state change's own transaction.

A request's transition, a payment: the audit entry that records it and the emails it causes
are items of the same DynamoDB transaction as the change. Either all are written or none: no
journal gap and no lost email when the process dies, or AWS fails, between two calls.
"""
from __future__ import annotations

from collections.abc import Iterable

from pynamodb.transactions import TransactWrite

from ...domain.audit import AuditEvent
from ...domain.outbox import OutboxMessage
from .audit import audit_item
from .outbox import NEW_MESSAGE, outbox_item

Effect = AuditEvent | OutboxMessage
MAX_EFFECTS = 90  # a transaction takes 100 items; the change itself uses the rest


def add_effects(tx: TransactWrite, effects: Iterable[Effect]) -> None:
    effects = list(effects)
    if len(effects) > MAX_EFFECTS:
        raise ValueError(f"{len(effects)} effects: more than one transaction holds")
    for effect in effects:
        if isinstance(effect, AuditEvent):
            tx.save(audit_item(effect))
        elif isinstance(effect, OutboxMessage):
            tx.save(outbox_item(effect), condition=NEW_MESSAGE)  # a fixed id is sent once
        else:
            raise TypeError(f"not an effect: {effect!r}")
