"""The renewal campaign over generated organisations, in-process on moto.

The opening day's run is measured end to end: the daily function lists the organisations
and queues the chunks, then every chunk is processed here as SQS would deliver it, with the
SES throttle off (its sleep does nothing) to see how fast emails can be handed to SES. A
second run the same day checks that nothing is sent twice and measures a pass that has
nothing to send — what the daily run costs on an ordinary day.

The stand-in's queries read only their partition (``queries_read_their_partition``), as
DynamoDB's do: moto's own sort every item of the table, which over 10 000 organisations
made the run quadratic and the figures moto's.

This module wipes the tables first (it runs after the other bench modules): the figures
are per organisation of a known world (``tests.campaign_world``).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

from tests.bench.common import DynamoCounter, Figure, queries_read_their_partition

ORGANISATIONS, QUICK_ORGANISATIONS = 10_000, 300
OPENING = datetime(2026, 12, 1, 5, 0, tzinfo=timezone.utc)


def _fresh_runtime():
    from dataclasses import replace

    from chalicelib.adapters.local_aws import create_resources, delete_tables
    from chalicelib.config import get_config
    from chalicelib.runtime import Runtime, set_runtime, utc_now

    # As deployed: the quotes the notice prepares are tasks for another function, queued here
    # (the SQS calls are timed; the renders are process_task's, outside the campaign's figures).
    config = replace(get_config(), tasks_inline=False)
    delete_tables()
    create_resources(config)
    real_start = utc_now()
    rt = Runtime(config, clock=lambda: OPENING + (utc_now() - real_start), sleep=lambda seconds: None)
    set_runtime(rt)
    queue = rt.campaign_queue
    while received := queue.receive(max_messages=10):  # leftovers of an earlier module
        for message in received:
            queue.delete(message.receipt)
    return rt


def _ses_count(region: str) -> int:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return len(ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages)


def run(quick: bool = False) -> list[Figure]:
    from chalicelib import jobs
    from chalicelib.config import CAMPAIGN_WORKERS
    from chalicelib.services import campaign
    from tests import campaign_world

    count = QUICK_ORGANISATIONS if quick else ORGANISATIONS
    rt = _fresh_runtime()
    start = time.perf_counter()
    world = campaign_world.build(rt, count)
    setup_seconds = time.perf_counter() - start
    expected = len(world.recipients())
    settings = rt.association()
    counter = DynamoCounter()
    sent_before = _ses_count(rt.config.region)
    per_chunk: list[int] = []

    with queries_read_their_partition(), counter.installed():
        start = time.perf_counter()
        jobs.run_campaign_schedule(rt)
        schedule_seconds = time.perf_counter() - start
        schedule_calls = dict(counter.calls)
        counter.reset()
        start = time.perf_counter()
        while received := rt.campaign_queue.receive(max_messages=1):
            done = campaign.process_chunk(rt, received[0].body)
            rt.campaign_queue.delete(received[0].receipt)
            per_chunk.append(sum(done.sent.values()))
        chunk_seconds = time.perf_counter() - start
        chunk_calls = dict(counter.calls)
        sent = _ses_count(rt.config.region) - sent_before

        counter.reset()
        start = time.perf_counter()
        again = jobs.run_campaign_schedule(rt)
        sent_again = jobs.drain_campaign_queue(rt)
        quiet_seconds = time.perf_counter() - start
        quiet_calls = counter.total

    total_seconds = schedule_seconds + chunk_seconds
    worker_rate = settings.ses_max_per_second / CAMPAIGN_WORKERS
    requests = sum(chunk_calls.values()) + sum(schedule_calls.values())
    assert sent == expected, (sent, expected)
    label = f"campaign over {count:,} organisations".replace(",", "\u202f")
    return [
        Figure(f"{label}: emails handed to SES", sent, "emails", note=f"{expected} expected"),
        Figure(f"{label}: total time (schedule + every chunk)", round(total_seconds, 1), "s",
               note=f"world set-up {setup_seconds:.0f} s not counted"),
        Figure(f"{label}: emails handed to SES per second by one worker, throttle off",
               round(sent / chunk_seconds, 1), "emails/s", target=worker_rate, higher_is_better=True,
               note=f"each of the {CAMPAIGN_WORKERS} workers must keep up with its share of the SES rate"),
        Figure(f"{label}: DynamoDB requests per organisation", round(requests / count, 2), "requests/org",
               note=f"{requests / max(sent, 1):.2f} per email; chunks {chunk_calls}; daily run {schedule_calls}"),
        Figure(f"{label}: Scans while processing chunks", chunk_calls.get("Scan", 0), "scans", target=0),
        Figure(f"{label}: Scans by the daily run (paginated list of organisations)", schedule_calls.get("Scan", 0),
               "scans"),
        Figure(f"{label}: largest chunk at {worker_rate:g} emails/s per worker", round(max(per_chunk) / worker_rate),
               "s", target=rt.config.campaign_work_seconds,
               note=f"{len(per_chunk)} chunks of {settings.campaign_chunk_size} organisations"),
        Figure(f"{label}: emails sent by a second run the same day", sum(sent_again["sent"].values()), "emails",
               target=0),
        Figure(f"{label}: a day with nothing to send, DynamoDB requests per organisation",
               round(quiet_calls / count, 2), "requests/org",
               note=f"{quiet_seconds:.1f} s, {again['chunks']} chunks"),
    ]
