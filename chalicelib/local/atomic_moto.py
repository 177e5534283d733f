"""Give moto's DynamoDB the atomicity of the real service (``make run`` and the tests).

DynamoDB applies a conditional write, or a whole transaction, as one step: of eight
conditional puts of one new key at the same instant, exactly one succeeds. moto evaluates the
condition and then writes, in Python, with no lock: a thread switch in between lets two puts
both see the key absent and both succeed (measured: about 1 round in 60 of eight threads, more
on a busy machine), and a cancelled transaction restores the tables it copied when it began,
wiping what other threads committed meanwhile. That is how one test once saw two « created »
answers for one stored request: the app's conditional write was right, the stand-in was not.

One process-wide lock around moto's writes gives the real guarantee back; reads still race,
as they do against DynamoDB.
"""
from __future__ import annotations

import threading

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_lock = threading.RLock()
_done = False


def make_dynamodb_atomic() -> None:
    """Idempotent: wraps moto's DynamoDB write operations once per process."""
    global _done
    if _done:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in _WRITES:
        original = getattr(DynamoDBBackend, name, None)
        if original is None:
            continue

        def atomic(self, *args, _original=original, **kwargs):
            with _lock:
                return _original(self, *args, **kwargs)

        atomic.__wrapped__ = original
        setattr(DynamoDBBackend, name, atomic)
    _done = True
