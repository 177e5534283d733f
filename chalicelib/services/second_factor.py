"""Staff second factor: enrolment on first login, the code after each password, recovery codes,
and one staff member resetting another's (see ``domain.second_factor``)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from ..domain.errors import ConcurrentUpdate, DomainError, Forbidden, NotFound
from ..domain.model import Contact
from ..domain.second_factor import (
    SecondFactor,
    looks_like_recovery_code,
    new_recovery_codes,
    new_secret,
    recovery_hash,
)
from ..domain.security import Session, hash_token
from ..runtime import Runtime
from .audit import record
from .auth import count_attempt, session_limits

log = logging.getLogger(__name__)

WRONG_CODE = "Code incorrect ou déjà utilisé, ou trop d'essais. Attendez le code suivant et réessayez."


class WrongCode(DomainError):
    status = 400
    message = WRONG_CODE


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret (as QR code and as text) for this account."""

    contact: Contact
    factor: SecondFactor


@dataclass(frozen=True)
class Passed:
    token: str  # the new session's token (the session is renewed once the second factor is given)
    recovery_codes: tuple[str, ...] = ()  # shown once, right after enrolment
    recovery_left: int | None = None  # after a recovery code was used


def _staff(rt: Runtime, session: Session) -> Contact:
    contact = rt.contacts.get(session.contact_id)
    if contact is None or not contact.active or not contact.is_staff:
        raise Forbidden()
    return contact


def enrolment(rt: Runtime, session: Session) -> Enrolment | None:
    """The secret to enrol for a staff member without one (kept across reloads), else None."""
    contact = _staff(rt, session)
    factor = rt.contacts.second_factor(contact.contact_id)
    if factor is not None and factor.enrolled:
        return None
    if factor is None:
        factor = SecondFactor(new_secret())
        try:
            rt.contacts.start_second_factor(contact.contact_id, factor.secret)
        except ConcurrentUpdate:  # enrolled at this instant in another tab
            return None
    return Enrolment(contact, factor)


def verify(rt: Runtime, session: Session, session_token: str, code: str, source_ip: str = "") -> Passed:
    """Check a TOTP or recovery code for a staff session; on success renew it as fully signed in.

    Attempts are counted before any check, like passwords (5 per 15 minutes per account), so six
    digits cannot be guessed by brute force.
    """
    contact = _staff(rt, session)
    now = rt.clock()
    may_check, locked = count_attempt(rt, f"totp#{contact.contact_id}", now)
    if not may_check:  # journaled once when the delay starts (below), not at every refused try
        log.warning("second factor attempts delayed for a staff account")
        raise WrongCode()
    factor = rt.contacts.second_factor(contact.contact_id)
    if factor is None:
        record(rt, "second_factor.failure", actor=contact.contact_id, ip=source_ip, reason="not_enrolled")
        raise WrongCode()
    codes: tuple[str, ...] = ()
    left = None
    step = factor.matching_step(code, now)
    try:
        if step is not None and factor.enrolled:
            rt.contacts.use_totp_step(contact.contact_id, step)
            how = "totp"
        elif step is not None:
            codes = tuple(new_recovery_codes())
            rt.contacts.confirm_second_factor(contact.contact_id, factor.secret, step,
                                              {recovery_hash(c) for c in codes}, now)
            how = "enrolment"
        elif factor.enrolled and looks_like_recovery_code(code) and recovery_hash(code) in factor.recovery_hashes:
            rt.contacts.use_recovery_code(contact.contact_id, recovery_hash(code))
            left = len(factor.recovery_hashes) - 1
            how = "recovery_code"
        else:
            raise ConcurrentUpdate()
    except ConcurrentUpdate:
        record(rt, "second_factor.failure", actor=contact.contact_id, ip=source_ip, reason="wrong_code",
               **({"delayed_until": locked.locked_until.isoformat()} if locked is not None else {}))
        raise WrongCode() from None
    rt.login_throttle.clear(f"totp#{contact.contact_id}")
    token = _renew(rt, session, session_token, now)
    record(rt, "second_factor.success", actor=contact.contact_id, target=contact.email, ip=source_ip, method=how,
           **({"recovery_codes_left": left} if left is not None else {}))
    return Passed(token, codes, left)


def _renew(rt: Runtime, session: Session, session_token: str, now) -> str:
    """A new session id once the second factor is given (privilege change: no fixation)."""
    rt.sessions.delete(hash_token(session_token))
    token = rt.token_factory()
    fresh = replace(session, token_hash=hash_token(token), second_factor_done=True, last_seen_at=now)
    idle, absolute = session_limits(rt)
    rt.sessions.add(fresh, fresh.expires_at(idle, absolute))
    return token


def enrolled(rt: Runtime, staff: list[Contact]) -> dict[str, bool]:
    """For the team page: whether each staff member has enrolled a second factor."""
    result = {}
    for contact in staff:
        factor = rt.contacts.second_factor(contact.contact_id)
        result[contact.contact_id] = factor is not None and factor.enrolled
    return result


def reset_for(rt: Runtime, staff: Session, contact_id: str) -> Contact:
    """One staff member resets another's second factor (lost phone): enrolment again at next login.

    Every session of that person ends; the action is journaled. Nobody resets their own: that
    would let a stolen password alone replace the factor.
    """
    contact = rt.contacts.get(contact_id)
    if contact is None or not contact.is_staff:
        raise NotFound("Compte de l'équipe introuvable.")
    if contact.contact_id == staff.contact_id:
        raise Forbidden("Un autre membre de l'équipe doit réinitialiser votre second facteur.")
    rt.contacts.remove_second_factor(contact.contact_id)
    revoked = rt.sessions.delete_for_contact(contact.contact_id)
    record(rt, "second_factor.reset", actor=staff.contact_id, target=contact.email, sessions_revoked=revoked)
    return contact
