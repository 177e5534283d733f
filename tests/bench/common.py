"""Shared pieces of `make bench`: figures, percentiles, the moto set-up, DynamoDB call counting."""
from __future__ import annotations

import os
import statistics
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = False
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values)


def start_moto() -> None:
    """Same set-up as the tests: environment first, then moto, then the app."""
    os.environ.update({
        "APP_STAGE": "local", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-west-3", "TABLE_PREFIX": "bench-", "DOCUMENTS_BUCKET": "bench-documents",
        "SENDER_EMAIL": "adhesions@cite-verte.example", "BASE_URL": "https://adhesions.bench",
    })
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    from moto import mock_aws

    mock = mock_aws()
    mock.start()
    from chalicelib.adapters.local_aws import create_resources
    from chalicelib.config import get_config

    create_resources(get_config())


def _same_key(stored, wanted) -> bool:
    """moto's key equality, without its slow path for the usual text keys."""
    if stored is None:
        return False
    if wanted.type == "S":
        return stored.type == "S" and stored.value == wanted.value
    return stored == wanted


@contextmanager
def queries_read_their_partition():
    """Make moto's Query cost what DynamoDB's does: the items of one partition, not the table.

    moto answers every Query by sorting every item of the table, then filtering them: over a
    world of 10 000 organisations, the campaign's per-organisation queries would cost the
    stand-in O(n²) and the bench would measure moto. Here each Query starts from the items
    of its partition (the base table's, or those whose index key matches), in moto's own
    order; moto then filters, sorts and pages them as before, so the answers are the same.
    """
    from moto.dynamodb.models.table import Table

    original = Table.query

    def items_of(table, hash_key, index_name, hash_key_conditions):
        if index_name is None:
            partition = table.items.get(hash_key, {}) if hash_key is not None else None
            if partition is None:
                return None
            return list(partition.values()) if table.range_key_attr else [partition]
        if not hash_key_conditions:
            return None
        items = [item for stored in table.items.values()
                 for item in (stored.values() if table.range_key_attr else [stored])]
        return [item for item in items if all(_same_key(item.attrs.get(name), value)
                                              for name, value in hash_key_conditions)]

    def query(table, hash_key, *args, **kwargs):
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        candidates = items_of(table, hash_key, index_name, kwargs.get("hash_key_conditions"))
        if candidates is None:
            return original(table, hash_key, *args, **kwargs)
        candidates.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
        table.all_items = lambda: candidates  # what original() reads the items from
        try:
            return original(table, hash_key, *args, **kwargs)
        finally:
            del table.all_items

    Table.query = query
    try:
        yield
    finally:
        Table.query = original


class DynamoCounter:
    """Counts the DynamoDB operations pynamodb makes (by operation name)."""

    def __init__(self):
        self.calls: Counter[str] = Counter()
        self.recorded: list[tuple[str, dict]] = []  # (operation, botocore parameters), in order

    @contextmanager
    def installed(self):
        from pynamodb.connection.base import Connection

        original = Connection._make_api_call

        def counting(conn, operation_name, operation_kwargs, *args, **kwargs):
            self.calls[operation_name] += 1
            self.recorded.append((operation_name, operation_kwargs))
            return original(conn, operation_name, operation_kwargs, *args, **kwargs)

        Connection._make_api_call = counting
        try:
            yield self
        finally:
            Connection._make_api_call = original

    def reset(self) -> None:
        self.calls.clear()
        self.recorded.clear()

    @property
    def total(self) -> int:
        return sum(self.calls.values())
