"""The campaign ledger (what was sent to whom, with conditional writes) and the campaign's bulk reads.

Ledger items, one table:

- a message: ``pk = "<season>#<org_id>"``, ``sk = "<kind>#<email>"``; one Query per
  organisation reads everything the season sent it. The ``by_season`` index (messages
  only: runs carry no ``season``) lists a whole season for the staff page.
- a run: ``pk = "<season>#runs"``, ``sk = "<started at>#<run id>"``.

Bulk reads (``DynamoCampaignDirectory``) are for whole-population work only — building the
chunks once per run, and the staff preview: one paginated Scan per table instead of one
request per organisation. Per-organisation work reads by key.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from ...domain.campaign import CampaignRun, LedgerEntry, LedgerState, MessageKind
from ...domain.model import Contact, Membership, MembershipStatus, Organisation
from .repositories import DynamoContacts, DynamoOrganisations
from .tables import ContactTable, MembershipTable, OrganisationTable, _index_meta, _meta

RUNS = "runs"


class LedgerBySeason(GlobalSecondaryIndex):
    Meta = _index_meta("by_season", AllProjection())
    season = NumberAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class CampaignLedgerTable(Model):
    Meta = _meta("campaign_ledger")
    pk = UnicodeAttribute(hash_key=True)  # "<season>#<org_id>" or "<season>#runs"
    sk = UnicodeAttribute(range_key=True)  # "<kind>#<email>" or "<started at>#<run id>"
    season = NumberAttribute(null=True)  # messages only (sparse index)
    org_id = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    state = UnicodeAttribute(null=True)  # claimed, sent
    claimed_at = UTCDateTimeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    outbox_id = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    data = UnicodeAttribute(null=True)  # runs: JSON
    by_season = LedgerBySeason()


def _pk(season: int, org_id: str) -> str:
    return f"{season}#{org_id}"


def _sk(kind: MessageKind, email: str) -> str:
    return f"{kind.value}#{email}"


def _condition_failed(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def _entry(item: CampaignLedgerTable) -> LedgerEntry:
    return LedgerEntry(
        season=int(item.season), org_id=item.org_id, kind=MessageKind(item.kind), email=item.email,
        state=LedgerState(item.state), claimed_at=item.claimed_at, sent_at=item.sent_at,
        attempts=int(item.attempts or 0),
    )


class DynamoCampaignLedger:
    def for_organisation(self, season: int, org_id: str) -> list[LedgerEntry]:
        """Everything the season recorded for one organisation (one strongly consistent Query)."""
        items = CampaignLedgerTable.query(_pk(season, org_id), consistent_read=True)
        return [_entry(i) for i in items]

    def for_season(self, season: int) -> list[LedgerEntry]:
        """Every message of a season (index query, paginated; eventually consistent)."""
        return [_entry(i) for i in CampaignLedgerTable.by_season.query(season)]

    def claim(self, season: int, org_id: str, kind: MessageKind, email: str, *,
              outbox_id: str, now: datetime, lease: timedelta, attempt: int = 1) -> bool:
        """Take one message for sending (a conditional put): True for the one worker that may send it.

        Nobody else may: a message already SENT is never claimed again; a CLAIMED one only
        once its claim is older than ``lease`` (its worker died between claim and mark).
        ``attempt`` numbers the claims, for the record.
        """
        table = CampaignLedgerTable
        stale = (table.state == LedgerState.CLAIMED.value) & (table.claimed_at < now - lease)
        item = table(_pk(season, org_id), _sk(kind, email), season=season, org_id=org_id, kind=kind.value,
                     email=email, state=LedgerState.CLAIMED.value, claimed_at=now, outbox_id=outbox_id,
                     attempts=attempt)
        try:
            item.save(condition=table.pk.does_not_exist() | stale)
        except PutError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def mark_sent(self, season: int, org_id: str, kind: MessageKind, email: str, now: datetime) -> None:
        """Record that the message is in the outbox; done at most once, after its claim."""
        table = CampaignLedgerTable
        try:
            table(_pk(season, org_id), _sk(kind, email)).update(
                actions=[table.state.set(LedgerState.SENT.value), table.sent_at.set(now)],
                condition=table.state == LedgerState.CLAIMED.value,
            )
        except UpdateError as error:
            if not _condition_failed(error):  # already marked by an overlapping retry: fine
                raise

    # --- runs ----------------------------------------------------------------------
    def add_run(self, run: CampaignRun) -> None:
        data = {"by": run.by, "kinds": [k.value for k in run.kinds],
                "organisations": run.organisations, "chunks": run.chunks}
        CampaignLedgerTable(
            _pk(run.season, RUNS), f"{run.started_at.isoformat()}#{run.run_id}",
            data=json.dumps(data, ensure_ascii=False),
        ).save(condition=CampaignLedgerTable.pk.does_not_exist())

    def runs(self, season: int, limit: int = 20) -> list[CampaignRun]:
        """The season's runs, newest first."""
        found = []
        for item in CampaignLedgerTable.query(_pk(season, RUNS), scan_index_forward=False, limit=limit):
            started, _, run_id = item.sk.rpartition("#")
            data = json.loads(item.data or "{}")
            found.append(CampaignRun(
                run_id, season, datetime.fromisoformat(started), data.get("by", ""),
                tuple(MessageKind(k) for k in data.get("kinds", [])),
                int(data.get("organisations", 0)), int(data.get("chunks", 0)),
            ))
        return found


class DynamoCampaignDirectory:
    """Reads for whole-population campaign work: one paginated Scan per table, or batches by key."""

    def active_organisation_ids(self) -> list[str]:
        """Ids of the active organisations, sorted (a keys-and-flag Scan)."""
        items = OrganisationTable.scan(attributes_to_get=["org_id", "active"])
        return sorted(i.org_id for i in items if i.active)

    def organisations(self, org_ids: Iterable[str]) -> dict[str, Organisation]:
        """The organisations with these ids, by BatchGetItem (100 keys a request)."""
        return {i.org_id: DynamoOrganisations._to_domain(i) for i in OrganisationTable.batch_get(list(org_ids))}

    def all_organisations(self) -> list[Organisation]:
        return [DynamoOrganisations._to_domain(i) for i in OrganisationTable.scan()]

    def contacts_by_organisation(self) -> dict[str, list[Contact]]:
        found: dict[str, list[Contact]] = defaultdict(list)
        for item in ContactTable.scan():
            if item.org_id:
                found[item.org_id].append(DynamoContacts._to_domain(item))
        for contacts in found.values():
            contacts.sort(key=lambda c: c.name.lower())
        return found

    def memberships_by_organisation(self) -> dict[str, list[Membership]]:
        found: dict[str, list[Membership]] = defaultdict(list)
        for i in MembershipTable.scan():
            found[i.org_id].append(Membership(i.org_id, int(i.year), i.tier_code, i.tier_label,
                                              Decimal(i.amount), MembershipStatus(i.status)))
        return found
