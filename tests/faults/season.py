"""A whole renewal season driven through the routes while AWS calls fail, then its invariants.

``run_season`` builds a world (the demo organisations and clones of them), opens the campaign,
then, with a share of DynamoDB, S3 and SES calls failing (``FaultInjector``):

- members log in, look at « Mes adhésions », sometimes ask for a quote, renew (some change
  tier, public buyers wait for a purchase order or give its number), some press twice or two
  contacts submit at once, a few cancel their request before it is invoiced;
- purchase orders arrive (from the member or from staff, a PDF for some);
- staff decide tiers, issue what is left to invoice, record payments (whole, in two parts,
  pressed twice, two at once), cancel some invoiced requests (credit note), one against a
  payment at the same instant;
- the scheduled functions and the task consumer run between the steps, and crash with the rest.

People press again on an error page, as people do. Then faults stop and every scheduled function
runs until quiet, and ``check`` reads the tables, the bucket and the sent mail.
"""
from __future__ import annotations

import dataclasses
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email import message_from_bytes
from functools import partial

from chalicelib import jobs
from chalicelib.domain.documents import DocumentKind
from chalicelib.domain.model import Contact, Membership, Organisation, Role
from chalicelib.domain.renewal import RequestState
from chalicelib.local.demo import DEMO_PASSWORD, demo_organisations
from chalicelib.services import documents as documents_service
from chalicelib.services import payments as payments_service
from chalicelib.services import tasks
from tests.conftest import at_once
from tests.faults.injector import FaultInjector
from tests.functional.conftest import STAFF, Browser

FORM = "/mon-compte/adhesions/renouveler"
QUEUE = "/admin/demandes"
PDF = b"%PDF-1.4\n% bon de commande\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
TRIES = 20  # how often a person presses again after an error page


@dataclass
class Report:
    seed: int
    rate: float
    organisations: int = 0
    requests: int = 0
    calls: dict = field(default_factory=dict)
    faults: dict = field(default_factory=dict)
    error_pages: int = 0           # 5xx answers people saw (and pressed again after)
    bare_error_pages: int = 0      # … of which without the French page and its reference
    gave_up: int = 0               # actions still failing after TRIES presses
    refusals: list = field(default_factory=list)  # 4xx answers (e.g. the second of two payments at once)
    bare: list = field(default_factory=list)      # (status, what the page said) of the bare error pages
    emails_due: int = 0
    emails_lost: list = field(default_factory=list)
    tolerated_duplicates: int = 0  # SES took the email, its answer was lost, the outbox sent it again
    other_duplicates: list = field(default_factory=list)
    half_done: list = field(default_factory=list)          # settlements or invoices left unfinished
    paid_and_credited: list = field(default_factory=list)
    paid_mismatch: list = field(default_factory=list)      # « Payée » ≠ fully paid
    overpaid: list = field(default_factory=list)
    invoices_per_request: list = field(default_factory=list)
    series_gaps: list = field(default_factory=list)
    orphans: list = field(default_factory=list)
    journal_gaps: list = field(default_factory=list)

    PROBLEMS = ("emails_lost", "other_duplicates", "half_done", "paid_and_credited", "paid_mismatch", "overpaid",
                "invoices_per_request", "series_gaps", "orphans", "journal_gaps")

    def problems(self) -> dict:
        return {name: getattr(self, name) for name in self.PROBLEMS if getattr(self, name)}

    def details(self) -> str:
        """The line, then each problem found (at most 20 of each kind), the refusals and bare error pages."""
        shown = {**self.problems(), "refusals": sorted(Counter(self.refusals).items(), key=lambda kv: -kv[1]),
                 "bare error pages": sorted(Counter(self.bare).items(), key=lambda kv: -kv[1])}
        found = "".join(f"\n{name}: {len(items)}" + "".join(f"\n  {item}" for item in items[:20])
                        for name, items in shown.items() if items)
        return self.line() + found

    def line(self) -> str:
        counts = " ".join(f"{name}={len(getattr(self, name))}" for name in self.PROBLEMS)
        return (f"seed={self.seed} rate={self.rate:.0%} organisations={self.organisations} "
                f"requests={self.requests} faults={sum(self.faults.values())}/{sum(self.calls.values())} "
                f"error_pages={self.error_pages} bare={self.bare_error_pages} gave_up={self.gave_up} "
                f"refusals={len(self.refusals)} "
                f"emails_due={self.emails_due} tolerated_duplicates={self.tolerated_duplicates} {counts}")


# --- the world ------------------------------------------------------------------------------


def build_world(rt, clones: int) -> list[Organisation]:
    """The demo organisations plus ``clones`` copies of them (new ids and addresses, same
    SIRETs, so that public buyers are in the Chorus Pro stand-in's directory)."""
    templates = demo_organisations()
    password_hash = rt.hasher.hash(DEMO_PASSWORD)
    year = rt.today().year
    for n in range(clones):
        demo = templates[n % len(templates)]
        org = dataclasses.replace(demo.org, org_id=f"{demo.org.org_id}-{n}", name=f"{demo.org.name} ({n})",
                                  invoice_email=_numbered(demo.org.invoice_email, n))
        rt.organisations.add(org)
        for name, email in demo.contacts:
            rt.contacts.add(Contact(rt.id_factory(), _numbered(email, n), name, Role.CONTACT, org.org_id,
                                    password_hash))
        for years_ago, tier_code, status in demo.history:
            tier = rt.tariffs.grid(year - years_ago).tier(tier_code)
            rt.memberships.save(Membership(org.org_id, year - years_ago, tier.code, tier.label, tier.amount, status))
    return [o for o in rt.organisations.all() if o.active]


def _numbered(email: str, n: int) -> str:
    local, _, domain = email.partition("@")
    return f"{local}+{n}@{domain}"


def answers_for(org: Organisation, rng: random.Random, grid) -> dict:
    """What a member of ``org`` sends: the pre-filled billing details, and choices of their own."""
    values = {
        "tier_choice": "confirm", "requested_tier": "", "tier_comment": "",
        "payment_method": "mandat_administratif" if org.public_buyer else rng.choice(["virement", "cheque"]),
        "wait_for_purchase_order": "no", "purchase_order_number": "",
        "address_line1": org.billing_address.line1, "address_line2": org.billing_address.line2,
        "postcode": org.billing_address.postcode, "city": org.billing_address.city, "siret": org.siret,
        "invoice_email": org.invoice_email, "service_code": org.service_code,
        "buyer_requirement": org.buyer_requirement.value,
    }
    others = [t for t in grid.tiers if t.category is org.category and t.code != org.current_tier]
    if others and rng.random() < 0.2:
        values.update(tier_choice="change", requested_tier=rng.choice(others).code,
                      tier_comment="Notre effectif a changé cette année.")
    if org.public_buyer:
        if rng.random() < 0.5:
            values["wait_for_purchase_order"] = "yes"
        elif org.buyer_requirement.value in ("engagement", "both"):
            values["purchase_order_number"] = f"EJ-{rng.randrange(10_000, 99_999)}"
    return values


# --- the season ----------------------------------------------------------------------------


def run_season(rt, clock, client, *, seed: int, rate: float, clones: int) -> Report:
    """Build the world, drive the season under faults, let everything settle, check."""
    rt.config = dataclasses.replace(rt.config, tasks_inline=False)  # the real queue, as in AWS
    rt.sleep = lambda seconds: clock.advance(seconds=seconds)  # waiting for a lease: time passes
    report = Report(seed, rate)
    world = build_world(rt, clones)
    report.organisations = len(world)
    clock.advance(days=3)  # 1 December: the campaign is open
    season = Season(rt, clock, client, report, FaultInjector(seed, rate), random.Random(seed * 7919 + int(rate * 1000)),
                    clock().year + 1)
    with season.faults:
        season.faults.active = True
        season.scheduled()
        season.members_renew(world)
        season.background()
        season.purchase_orders()
        season.staff_decide()
        season.background()
        season.payments_and_cancellations()
        season.background()
        season.faults.active = False
    report.calls, report.faults = dict(season.faults.calls), dict(season.faults.faults)
    until_quiet(rt, clock)
    # The sweep of unreferenced purchase-order files goes by S3's LastModified, which moto takes
    # from the real clock: its run « an hour later » is on that clock.
    clock.now = max(clock.now, datetime.now(timezone.utc) + timedelta(hours=2))
    jobs.issue_pending_invoices(rt)
    check(rt, report, season.faults, season.year)
    return report


@dataclass
class Season:
    rt: object
    clock: object
    client: object
    report: Report
    faults: FaultInjector
    rng: random.Random
    year: int
    staff: Browser | None = None
    staff_seen: datetime | None = None

    def __post_init__(self):
        self.people = People(self.report, self.client, self.rt, self.clock)

    def read(self, function, *args, **kwargs):
        """The driver's own reads: never failed on purpose."""
        with self.faults.paused():
            return function(*args, **kwargs)

    def contacts(self, org_id: str) -> list[Contact]:
        return [c for c in self.read(self.rt.contacts.for_organisation, org_id) if c.role is Role.CONTACT]

    def in_state(self, state: RequestState):
        return self.read(self.rt.renewals.in_state, state, self.year, limit=5000)

    def staff_at_work(self) -> Browser | None:
        """The staff member's browser, logged in again after a break longer than the idle limit."""
        now = self.clock()
        if self.staff is None or now - self.staff_seen > timedelta(minutes=20):
            self.staff = self.people.log_in(STAFF, home="/admin")
        self.staff_seen = now
        return self.staff

    def wait(self, low: int, high: int) -> None:
        self.clock.advance(seconds=self.rng.randrange(low, high))

    # --- members

    def members_renew(self, world: list[Organisation]) -> None:
        people, rng, grid = self.people, self.rng, self.read(self.rt.tariffs.grid, self.year)
        for org in rng.sample(world, len(world)):
            self.wait(20, 300)
            contacts = self.contacts(org.org_id)
            member = people.log_in(contacts[0].email)
            if member is None:
                continue
            people.press(partial(member.get, "/mon-compte/adhesions"))
            if rng.random() < 0.3:
                people.press(post(member, "/mon-compte/devis", {}, token(member)))
            form_token = people.token(member, FORM)
            values = answers_for(org, rng, grid)
            roll = rng.random()
            if roll < 0.1 and len(contacts) > 1:  # two contacts at once
                other = people.log_in(contacts[1].email)
                if other is not None:
                    other_token = people.token(other, FORM)
                    at_once(partial(people.press, post(member, FORM, values, form_token)),
                            partial(people.press, post(other, FORM, values, other_token)))
            elif roll < 0.2:  # pressed twice
                at_once(partial(people.press, post(member, FORM, values, form_token)),
                        partial(people.press, post(member, FORM, values, form_token)))
            else:
                people.press(post(member, FORM, values, form_token))
            if rng.random() < 0.05:  # changes their mind before the invoice
                page = f"/mon-compte/adhesions/demande/{self.year}"
                people.press(post(member, f"{page}/annulation", {"confirmation": "oui"}, people.token(member, page)))
            if rng.random() < 0.3:
                self.background()

    def purchase_orders(self) -> None:
        people, rng = self.people, self.rng
        for request in self.in_state(RequestState.AWAITING_PURCHASE_ORDER):
            self.wait(30, 600)
            number = f"BC-{rng.randrange(100_000, 999_999)}"
            if rng.random() < 0.5:
                path = f"{QUEUE}/{request.org_id}/{self.year}"
                staff = self.staff_at_work()
                if staff is None:
                    continue
                page_token = people.token(staff, path)
                if rng.random() < 0.5:
                    people.press(partial(multipart, staff, f"{path}/bon-de-commande", page_token, number))
                else:
                    people.press(post(staff, f"{path}/bon-de-commande", {"purchase_order_number": number}, page_token))
            else:
                member = people.log_in(self.contacts(request.org_id)[-1].email)
                if member is None:
                    continue
                page_token = people.token(member, "/mon-compte/adhesions")
                people.press(partial(multipart, member, "/mon-compte/adhesions/bon-de-commande", page_token, number,
                                               annee=str(self.year)))

    # --- staff

    def staff_decide(self) -> None:
        people = self.people
        for request in self.in_state(RequestState.TIER_DECISION_PENDING):
            self.wait(30, 600)
            path, staff = f"{QUEUE}/{request.org_id}/{self.year}", self.staff_at_work()
            if staff is None:
                continue
            page_token = people.token(staff, path)
            tier = request.requested_tier_code if self.rng.random() < 0.7 else request.offered_tier_code
            people.press(post(staff, f"{path}/tranche", {"tier_code": tier, "note": "Vu avec le contact."}, page_token))
        self.background()
        for request in self.in_state(RequestState.READY_TO_INVOICE):
            path, staff = f"{QUEUE}/{request.org_id}/{self.year}", self.staff_at_work()
            if staff is not None:
                people.press(post(staff, f"{path}/facture", {}, people.token(staff, path)))

    def payments_and_cancellations(self) -> None:
        people, rng = self.people, self.rng
        for request in self.in_state(RequestState.INVOICED):
            self.wait(30, 900)
            path, staff = f"{QUEUE}/{request.org_id}/{self.year}", self.staff_at_work()
            if staff is None:
                continue
            page_token = people.token(staff, path)
            pid = payment_id(staff)
            if not page_token or not pid:
                continue
            total, roll, today = request.amount, rng.random(), self.clock().date().isoformat()
            if roll < 0.55:  # paid in full
                people.press(pay(staff, path, page_token, pid, total, "VIR-1", today))
            elif roll < 0.7:  # in two parts
                half = (total / 2).quantize(Decimal("0.01"))
                people.press(pay(staff, path, page_token, pid, half, "VIR-A", today))
                people.token(staff, path)
                people.press(pay(staff, path, page_token, payment_id(staff), total - half, "VIR-B", today))
            elif roll < 0.8:  # the same payment pressed twice at once
                at_once(partial(people.press, pay(staff, path, page_token, pid, total, "VIR-2", today)),
                        partial(people.press, pay(staff, path, page_token, pid, total, "VIR-2", today)))
            elif roll < 0.86:  # two staff record the whole amount at once, each their own payment
                other = self.read(self.rt.id_factory)
                at_once(partial(people.press, pay(staff, path, page_token, pid, total, "VIR-3", today)),
                        partial(people.press, pay(staff, path, page_token, other, total, "CHQ-3", today)))
            elif roll < 0.94:  # cancelled: a credit note
                people.press(post(staff, f"{path}/annulation", cancel_form("Adhésion non reconduite."), page_token))
            else:  # cancelled while the payment is recorded
                at_once(partial(people.press, post(staff, f"{path}/annulation", cancel_form("Doublon."), page_token)),
                        partial(people.press, pay(staff, path, page_token, pid, total, "VIR-4", today)))
            if rng.random() < 0.2:
                self.background()

    # --- what runs on its own

    def scheduled(self) -> None:
        """The campaign's daily run and its queue, as the schedule and SQS start them."""
        for job in (jobs.run_campaign_schedule, jobs.drain_campaign_queue):
            try:
                job(self.rt)
            except Exception:  # a crash mid-campaign: the next run goes on
                pass

    def background(self) -> None:
        """The task consumer and the 15-minute functions, between people's actions; they crash too."""
        self.clock.advance(minutes=1)
        drain(self.rt)
        for job in (jobs.issue_pending_invoices, jobs.retry_pending_emails, jobs.follow_chorus_pro):
            try:
                job(self.rt)
            except Exception:  # the function crashed; its next run starts over
                pass


class People:
    """People at their browsers: ``press`` repeats an action after an error page, as people do."""

    def __init__(self, report: Report, client, rt, clock):
        self.report, self.client, self.rt, self.clock = report, client, rt, clock

    def press(self, action):
        for attempt in range(TRIES):
            if attempt:
                self.clock.advance(seconds=10)  # reading the error page, pressing again
            try:
                response = action()
            except Exception as error:  # the test client raised: a page the person never got
                self.report.error_pages += 1
                self.report.bare_error_pages += 1
                self.report.bare.append((0, f"{type(error).__name__}: {error}"[:100]))
                continue
            if response.status_code < 500:
                if response.status_code >= 400:
                    self.report.refusals.append((response.status_code, _said(response)))
                return response
            self.report.error_pages += 1
            body = response.body.decode(errors="replace")
            if 'role="alert"' not in body and "Référence" not in body:  # no French page saying why, no reference
                self.report.bare_error_pages += 1
                self.report.bare.append((response.status_code, _said(response)))
        self.report.gave_up += 1
        return None

    def log_in(self, email: str, home: str = "/mon-compte") -> Browser | None:
        for attempt in range(TRIES):
            if attempt:  # a second factor is good once per half-minute
                self.clock.advance(seconds=30)
            browser = Browser(self.client, self.rt)
            try:
                browser.login(email)
                if browser.logged_in and browser.get(home).status_code == 200:
                    return browser
            except Exception:
                pass
            self.report.error_pages += 1
        self.report.gave_up += 1
        return None

    def token(self, browser: Browser | None, path: str) -> str:
        """Open ``path`` (pressing again on an error) and read its form's CSRF token."""
        if browser is None:
            return ""
        return token(browser) if self.press(lambda: browser.get(path)) is not None else ""


def _said(response) -> str:
    """The page's heading or first message, to tell refusals and error pages apart."""
    body = response.body.decode(errors="replace")
    found = re.search(r'class="(?:error|notice|alert)[^"]*"[^>]*>(.*?)</', body, re.S) or re.search(r"<h1[^>]*>(.*?)</h1>",
                                                                                                    body, re.S)
    text = re.sub(r"<[^>]+>|\s+", " ", found.group(1) if found else body[:120]).strip()
    return text[:100]


def token(browser: Browser) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', browser.last.body.decode(errors="replace"))
    return match.group(1) if match else ""


def payment_id(browser: Browser) -> str:
    match = re.search(r'name="payment_id" value="([^"]+)"', browser.last.body.decode(errors="replace"))
    return match.group(1) if match else ""


def post(browser: Browser, path: str, data: dict, csrf: str):
    return lambda: browser.post(path, data, csrf=csrf)


def pay(staff: Browser, path: str, csrf: str, pid: str, amount: Decimal, reference: str, paid_on: str):
    data = {"amount": f"{amount:.2f}".replace(".", ","), "paid_on": paid_on, "method": "virement",
            "reference": reference, "payment_id": pid}
    return post(staff, f"{path}/paiement", data, csrf)


def cancel_form(reason: str) -> dict:
    """Staff's « Annuler la demande » as confirmed on its page."""
    return {"reason": reason, "confirmer": "1", "confirmation": "oui"}


def multipart(browser: Browser, path: str, csrf: str, number: str, **fields):
    boundary = "----faultsuite"
    parts = {"csrf_token": csrf, "purchase_order_number": number, **fields}
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                    for k, v in parts.items())
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="purchase_order_file"; filename="bc.pdf"\r\n'
             "Content-Type: application/pdf\r\n\r\n").encode() + PDF + f"\r\n--{boundary}--\r\n".encode()
    return browser.post(path, body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                        csrf=False)


def drain(rt, rounds: int = 50) -> int:
    """The task consumer. A failed task comes back at once (visibility 0: SQS runs on real time,
    the test on its own clock)."""
    done = 0
    for _ in range(rounds):
        try:
            received = rt.task_queue.receive(max_messages=10, visibility_seconds=0)
        except Exception:
            continue
        if not received:
            break
        for message in received:
            try:
                tasks.process(rt, message.body)
                rt.task_queue.delete(message.receipt)
                done += 1
            except Exception:
                pass
    return done


def until_quiet(rt, clock, rounds: int = 60) -> None:
    """Faults are over: every scheduled function runs until nothing is left to do, twice in a row."""
    quiet = 0
    for _ in range(rounds):
        clock.advance(minutes=30)
        done = drain(rt)
        done += sum(v for v in jobs.issue_pending_invoices(rt).values() if isinstance(v, int))
        done += jobs.retry_pending_emails(rt)["sent"]
        done += jobs.follow_chorus_pro(rt)["deposited"]
        pending = rt.outbox.due(clock() + timedelta(days=1), limit=1)
        pending += [d for d in rt.chorus_deposits.open() if not d.flux]  # still to deposit
        quiet = quiet + 1 if not done and not pending else 0
        if quiet >= 2:
            return
    raise AssertionError("the scheduled functions never went quiet")


# --- invariants ----------------------------------------------------------------------------


def check(rt, report: Report, injector: FaultInjector, season: int) -> None:
    organisations = rt.organisations.all()
    requests = [r for o in organisations for r in rt.renewals.for_organisation(o.org_id) if r.year == season]
    report.requests = len(requests)
    docs = [d for o in organisations for d in rt.documents.for_organisation(o.org_id)]
    _check_series(report, docs)
    _check_requests(rt, report, requests, docs)
    _check_emails(rt, report, injector, requests, docs)
    _check_journal(rt, report, requests)
    _check_orphans(rt, report, organisations, docs)


def _check_series(report, docs):
    for kind in (DocumentKind.INVOICE, DocumentKind.CREDIT_NOTE):
        by_series: dict[str, list[int]] = {}
        for d in docs:
            if d.kind is kind:
                prefix, _, n = d.number.rpartition("-")
                by_series.setdefault(prefix, []).append(int(n))
        for prefix, numbers in by_series.items():
            if sorted(numbers) != list(range(1, len(numbers) + 1)):
                report.series_gaps.append((prefix, sorted(numbers)))


def _check_requests(rt, report, requests, docs):
    credited = {d.related_number for d in docs if d.kind is DocumentKind.CREDIT_NOTE}
    invoices = [d for d in docs if d.kind is DocumentKind.INVOICE]
    for request in requests:
        mine = [d for d in invoices if d.request_id == request.reference]
        live = [d for d in mine if d.number not in credited]
        if request.state in (RequestState.INVOICED, RequestState.PAID):
            if [d.number for d in live] != [request.invoice_number]:
                report.invoices_per_request.append((request.reference, request.state.value, [d.number for d in mine]))
        elif request.state is RequestState.CANCELLED:
            if live:
                report.invoices_per_request.append((request.reference, "cancelled", [d.number for d in live]))
        elif request.state is RequestState.READY_TO_INVOICE:  # the invoice job should have issued it
            report.half_done.append((request.reference, request.state.value))
        # A tier decision or a purchase order still awaited is the people's turn, not unfinished work.
        for invoice in mine:
            paid = rt.payments.paid_total(invoice.number)
            if paid > invoice.total:
                report.overpaid.append((invoice.number, str(paid), str(invoice.total)))
            if paid > 0 and invoice.number in credited:
                report.paid_and_credited.append(invoice.number)
        if request.state in (RequestState.INVOICED, RequestState.PAID):
            total = next((d.total for d in live), request.amount)
            fully = rt.payments.paid_total(request.invoice_number) >= total
            if fully != (request.state is RequestState.PAID):
                report.paid_mismatch.append((request.reference, request.state.value))
        if request.state is RequestState.PAID:
            membership = next((m for m in rt.memberships.for_organisation(request.org_id) if m.year == request.year),
                              None)
            certificates = [d for d in docs if d.kind is DocumentKind.CERTIFICATE and d.org_id == request.org_id
                            and d.year == request.year]
            if membership is None or membership.status.value != "paid" or len(certificates) != 1:
                report.half_done.append((request.reference, "paid", membership and membership.status.value,
                                         len(certificates)))


def expected_emails(rt, requests, docs) -> set[str]:
    """The outbox ids of every email the season's state says was due."""
    staff_address = rt.association().staff_notification_email
    due: set[str] = set()
    latest = {}
    for request in requests:
        key = (request.org_id, request.year)
        if key not in latest or latest[key].attempt < request.attempt:
            latest[key] = request
    for request in requests:
        contacts = [c for c in rt.contacts.for_organisation(request.org_id) if c.active and c.role is Role.CONTACT]
        told = [c for c in contacts if c.receives_notices]  # copies and decisions, as the renewal sends them
        base = f"renewal.{request.org_id}.{request.year}.{request.attempt}"
        sent_already = rt.outbox.get(f"{base}.confirmation.{request.submitted_by}") is not None
        # A request cancelled before its task ran is not announced as « enregistrée » afterwards.
        if sent_already or (latest[(request.org_id, request.year)] is request
                            and request.state is not RequestState.CANCELLED):
            due.add(f"{base}.confirmation.{request.submitted_by}")
            due.update(f"{base}.copy.{c.contact_id}" for c in told if c.contact_id != request.submitted_by)
            if staff_address:
                due.add(f"{base}.staff.staff")
        for i, entry in enumerate(request.history):
            if entry.action in ("tier_accepted", "tier_refused"):
                due.update(f"{base}.tier.{c.contact_id}" for c in told)
            elif entry.action == "purchase_order_received" and staff_address:
                due.add(f"{base}.po{i + 1}.staff")
        if request.state is RequestState.PAID:
            due.update(payments_service._paid_message_id(request, c) for c in contacts)
    public = {o.org_id for o in rt.organisations.all() if o.public_buyer}
    credited = {d.related_number for d in docs if d.kind is DocumentKind.CREDIT_NOTE}
    for d in docs:
        payer = ""
        if d.kind in (DocumentKind.INVOICE, DocumentKind.CREDIT_NOTE) and d.org_id not in public:
            payer = (d.content.buyer.email or "").lower()
            due.add(documents_service._payer_message_id(d))
        # « Votre facture est disponible » is due for an invoice still standing (or already told).
        notices = [f"invoice.{d.number}.{c.contact_id}" for c in rt.contacts.for_organisation(d.org_id)
                   if c.active and c.role is Role.CONTACT and c.email.lower() != payer]
        if d.kind is DocumentKind.INVOICE and d.number in credited:
            due.update(n for n in notices if rt.outbox.get(n) is not None)
        elif d.kind is DocumentKind.INVOICE:
            due.update(notices)
    return due


def _check_emails(rt, report, injector, requests, docs):
    public = {o.org_id for o in rt.organisations.all() if o.public_buyer}
    for d in docs:  # a public buyer's invoices and credit notes reach it through Chorus Pro
        if d.kind in (DocumentKind.INVOICE, DocumentKind.CREDIT_NOTE) and d.org_id in public:
            deposit = rt.chorus_deposits.get(d.number)
            if deposit is None or not deposit.flux:
                report.emails_lost.append((f"chorus.{d.number}", "not deposited on Chorus Pro", d.request_id,
                                           deposit and (deposit.attempts, deposit.last_error)))
    due = expected_emails(rt, requests, docs)
    report.emails_due = len(due)
    delivered, described = Counter(), {}
    from chalicelib.adapters.dev_mailbox import LocalMailbox

    for sent in LocalMailbox(rt.config.region)._sent():
        raw = sent.raw_data.encode() if isinstance(sent.raw_data, str) else sent.raw_data
        mime = message_from_bytes(raw)
        delivered[mime.get("Message-ID", "")] += 1
        described[mime.get("Message-ID", "")] = (str(mime.get("To", "")), str(mime.get("Subject", ""))[:60])
    for message_id in sorted(due):
        stored = rt.outbox.get(message_id)
        if stored is None or stored.status != "sent":
            report.emails_lost.append((message_id, stored.status if stored else "never queued"))
            continue
        header = message_from_bytes(stored.raw).get("Message-ID", "")
        if delivered[header] == 0:
            report.emails_lost.append((message_id, "marked sent, not in the mailbox"))
    unknown = Counter(injector.lost_ses_answers) + Counter(injector.unrecorded_sends)
    for header, count in delivered.items():
        if count > 1:
            tolerated = min(count - 1, unknown[header])
            report.tolerated_duplicates += tolerated
            if count - 1 > tolerated:
                outbox_id = next((m for m in due if (o := rt.outbox.get(m)) is not None
                                  and message_from_bytes(o.raw).get("Message-ID", "") == header), "?")
                report.other_duplicates.append((header, count, unknown[header], described[header], outbox_id))


JOURNAL = {"submitted": "renewal.submitted", "tier_accepted": "renewal.tier_decided",
           "tier_refused": "renewal.tier_decided", "purchase_order_received": "renewal.purchase_order",
           "invoice_issued": "renewal.invoiced", "invoice_replaced": "renewal.invoice_replaced",
           "payment_recorded": "renewal.paid", "cancel": "renewal.cancelled"}


def _check_journal(rt, report, requests):
    months = {r.submitted_at.strftime("%Y-%m") for r in requests} | {
        e.at.strftime("%Y-%m") for r in requests for e in r.history}
    events = [e for month in months for e in rt.audit.in_month(month, limit=100_000)]
    journaled = Counter((e.action, e.target) for e in events)
    for request in requests:
        wanted = Counter(JOURNAL.get(e.action, e.action) for e in request.history)
        for action, count in wanted.items():
            if journaled[(action, request.reference)] < count:
                report.journal_gaps.append((request.reference, action, count, journaled[(action, request.reference)]))
        recorded = [p for p in rt.payments.for_request(request.org_id, request.year)
                    if p.invoice_number == request.invoice_number]
        if journaled[("payment.recorded", request.reference)] < len(recorded):
            report.journal_gaps.append((request.reference, "payment.recorded", len(recorded),
                                        journaled[("payment.recorded", request.reference)]))


def _check_orphans(rt, report, organisations, docs):
    held = {d.s3_key for d in docs}
    held |= {r.purchase_order_file for o in organisations for r in rt.renewals.for_organisation(o.org_id)
             if r.purchase_order_file}
    client = rt.storage._client
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=rt.config.documents_bucket):
        for item in page.get("Contents", []):
            if item["Key"] not in held:
                report.orphans.append(item["Key"])
