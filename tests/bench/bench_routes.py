"""Server time and DynamoDB requests per request for the member routes (in-process, moto)."""
from __future__ import annotations

import time

from tests.bench.common import DynamoCounter, Figure, median, percentile

ROUNDS = 40


READS = {"GetItem", "Query", "BatchGetItem", "Scan"}
FLOOR_RATIO = 1.5


def _floor(fn, counter):
    """The floor of a route: the DynamoDB reads one request of it makes, replayed with a bare
    botocore client — no routing, middleware, session logic, model mapping or template."""
    import boto3

    counter.reset()
    fn()
    reads = [(op, params) for op, params in counter.recorded if op in READS]
    client = boto3.client("dynamodb", region_name="eu-west-3")

    def bare():
        for op, params in reads:
            client._make_api_call(op, params)

    return bare


def _measure(name, fn, counter, rounds, *, ddb_target=None, p50_target=None, with_floor=False):
    """p50/p95, DynamoDB requests and Scans of a route; ``with_floor``: its floor timed in the
    same loop, interleaved, and their ratio against ``FLOOR_RATIO``."""
    bare = _floor(fn, counter) if with_floor else None
    times, floors, requests, scans = [], [], [], 0
    for _ in range(rounds):
        counter.reset()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
        requests.append(counter.total)
        scans += counter.calls.get("Scan", 0)
        if bare is not None:
            start = time.perf_counter()
            bare()
            floors.append((time.perf_counter() - start) * 1000)
    figures = [
        Figure(f"{name} p50", round(median(times), 2), "ms", p50_target),
        Figure(f"{name} p95", round(percentile(times, 95), 2), "ms"),
    ]
    if floors:
        ratio = median(times) / median(floors) if median(floors) else float("nan")
        figures += [Figure(f"{name} floor p50 (its DynamoDB reads alone)", round(median(floors), 2), "ms"),
                    Figure(f"{name} ratio to its floor", round(ratio, 2), "×", FLOOR_RATIO)]
    return figures + [
        Figure(f"{name} DynamoDB requests", max(requests), "requests/request", ddb_target),
        Figure(f"{name} Scan calls", scans, "scans", 0),
    ]


def run(quick: bool = False) -> list[Figure]:
    from chalice.test import Client

    from app import app
    from chalicelib.local.demo import DEMO_PASSWORD, load_demo_data
    from chalicelib.runtime import get_runtime
    from tests.functional.conftest import Browser

    rt = get_runtime()
    load_demo_data(rt)
    rounds = 8 if quick else ROUNDS
    counter = DynamoCounter()
    figures: list[Figure] = []
    with Client(app, stage_name="local") as client, counter.installed():
        browser = Browser(client)
        browser.get("/connexion")

        def login():
            browser.cookies.pop("session", None)
            browser.get("/connexion")
            response = browser.post("/connexion", {"email": "m.lefevre@montclair.example", "password": DEMO_PASSWORD})
            assert response.status_code == 303, response.status_code

        figures += _measure("login (POST /connexion)", login, counter, max(rounds // 4, 4), p50_target=60)
        browser.login("m.lefevre@montclair.example")

        def memberships():
            assert browser.get("/mon-compte/adhesions").status_code == 200

        figures += _measure("« Mes adhésions »", memberships, counter, rounds, ddb_target=4, with_floor=True)

        def account():
            assert browser.get("/mon-compte").status_code == 200

        figures += _measure("« Mon compte »", account, counter, rounds, with_floor=True)

        from chalicelib.services import documents
        if documents.prepare_quote(rt, "org-montclair") is not None:  # as the campaign notice does

            def quote():
                assert browser.post("/mon-compte/devis", {}).status_code == 303

            figures += _measure("« Éditer un devis » (prepared)", quote, counter, rounds, p50_target=40,
                                with_floor=True)
        figures += _reset_timing(rt, Browser(client), rounds)
        figures += _submit_timing(rt, Browser(client, rt), rounds)
    return figures


DURAND_ANSWERS = {
    "tier_choice": "confirm", "payment_method": "virement", "wait_for_purchase_order": "no",
    "address_line1": "ZA des Grands Champs, 8 rue des Artisans", "postcode": "35000", "city": "Rennes",
    "siret": "48312345600027", "invoice_email": "compta@paysages-durand.example", "etape": "enregistrer",
}


def _submit_timing(rt, browser, rounds: int) -> list[Figure]:
    """« Enregistrer ma demande » (POST, after the recap), through the real queue: the answer
    comes once the request is saved; the invoice and the emails are the task's (not timed).
    Each round cancels the request (before its invoice) so the next one saves a new attempt."""
    from dataclasses import replace

    from chalicelib.services import renewal

    real_config = rt.config
    rt.config = replace(real_config, tasks_inline=False)
    times = []
    try:
        browser.login("n.durand@paysages-durand.example")
        form = "/mon-compte/adhesions/renouveler"
        if browser.get(form).status_code != 200:
            return [Figure("« Enregistrer ma demande » p50", 0, "ms", 60, note="no open season today: not measured")]
        member = rt.contacts.find_by_email("n.durand@paysages-durand.example").contact_id
        for _ in range(max(rounds, 10)):
            browser.get(form)
            start = time.perf_counter()
            response = browser.post(form, DURAND_ANSWERS)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 303, response.status_code
            year = max(r.year for r in rt.renewals.for_organisation("org-durand"))
            renewal.cancel_by_member(rt, "org-durand", member, year)
        while received := rt.task_queue.receive(max_messages=10):  # the tasks of cancelled requests
            for message in received:
                rt.task_queue.delete(message.receipt)
    finally:
        rt.config = real_config
    return [Figure("« Enregistrer ma demande » p50", round(median(times), 2), "ms", 60,
                   note="server time in-process, invoice and emails after the answer")]


def _reset_timing(rt, browser, rounds: int) -> list[Figure]:
    """« Mot de passe oublié » for a known and an unknown address, interleaved, through the real
    queue (the request only queues; the link is made by the task, after the answer). The goal:
    the two medians differ by less than the noise, taken as the spread between the medians of
    the first and second halves of the same runs."""
    from dataclasses import replace
    from datetime import timedelta

    from chalicelib.services import tasks

    real_config, real_clock = rt.config, rt.clock
    start = real_clock()
    current = [0]
    rt.config = replace(real_config, tasks_inline=False)
    rt.clock = lambda: start + timedelta(hours=current[0])
    known, unknown = [], []
    try:
        browser.get("/mot-de-passe-oublie")
        for n in range(max(rounds, 10) * 2):
            current[0] = n + 1  # a new hour: the per-address and per-source limits never bite
            # One address each, asked as often: the per-address limit's item has the same history.
            email = "m.lefevre@montclair.example" if n % 2 == 0 else "personne@inconnu.example"
            begin = time.perf_counter()
            assert browser.post("/mot-de-passe-oublie", {"email": email}).status_code == 200
            (known if n % 2 == 0 else unknown).append((time.perf_counter() - begin) * 1000)
            tasks.drain(rt)
    finally:
        rt.config, rt.clock = real_config, real_clock
    half = len(known) // 2
    noise = max(abs(median(series[:half]) - median(series[half:])) for series in (known, unknown))
    gap = abs(median(known) - median(unknown))
    return [
        Figure("« Mot de passe oublié », known address p50", round(median(known), 2), "ms"),
        Figure("« Mot de passe oublié », unknown address p50", round(median(unknown), 2), "ms"),
        Figure("« Mot de passe oublié », known − unknown (|Δ p50|)", round(gap, 2), "ms", round(max(noise, 1.0), 2),
               note="target: the noise (spread of p50 between halves of the same runs, at least 1 ms)"),
    ]


def argon2_figures(quick: bool = False) -> list[Figure]:
    from chalicelib.adapters.passwords import Argon2Hasher

    hasher = Argon2Hasher()
    stored = hasher.hash("Tilleul-Platane-Erable-2026")
    times = []
    for _ in range(5 if quick else 20):
        start = time.perf_counter()
        hasher.verify(stored, "Tilleul-Platane-Erable-2026")
        times.append((time.perf_counter() - start) * 1000)
    return [Figure("argon2id verify (t=2, m=19 MiB, p=1)", round(median(times), 1), "ms",
                   note="OWASP's recommended parameters")]
