"""First start of a deployed stage: the association's identity and its first staff account.

    python -m infra.bootstrap --stage prod --name "Cité Verte" --siret 12345678900012 \
        --address "12 rue des Tilleuls" --postcode 49000 --city Angers \
        --contact-email adherents@cite-verte.fr --contact-phone "02 00 00 00 00" \
        --staff-name "Camille Martin" --staff-email camille.martin@cite-verte.fr

Runs from an engineer's machine with AWS credentials for the stage's account and region
(``AWS_PROFILE``/``AWS_REGION``), after the stack is deployed. It writes the settings only if
there are none, adds the staff account and mails it a single-use link to choose a password
(the same link as « Mot de passe oublié ? », from ``BASE_URL``): nobody ever types a
password for someone else. Everything else (tariffs, bank details, campaign dates) is then
edited by staff under /admin.
"""
from __future__ import annotations

import argparse
import os
import sys

from infra.build import BuildError, load_stage, stage_environment

ACTOR = "bootstrap"


def bootstrap(rt, identity: dict, staff_name: str, staff_email: str) -> list[str]:
    """Save the association's identity if missing and invite the first staff member; say what was done."""
    from chalicelib.domain.association import AssociationSettings
    from chalicelib.domain.errors import ValidationError
    from chalicelib.domain.model import Address
    from chalicelib.services import admin_members

    done = []
    if rt.settings.association() is None:
        rt.settings.save_association(AssociationSettings(
            name=identity["name"],
            address=Address(identity["address"], identity["postcode"], identity["city"]),
            siret=identity["siret"],
            contact_email=identity["contact_email"],
            contact_phone=identity["contact_phone"],
            staff_notification_email=identity["contact_email"],
        ))
        rt.forget_cached_settings()
        done.append("association settings saved")
    else:
        done.append("association settings already present: left as they are")
    # The key document ids are derived with, made here once: the functions that issue documents
    # after a request (tasks, the catch-up) only read the settings table.
    _ = rt.document_id_key
    done.append("document id key present")
    try:
        admin_members.add_staff_member(rt, ACTOR, {"name": staff_name, "email": staff_email}, invite=True)
        done.append(f"staff account {staff_email} created and invited (link valid 30 minutes)")
    except ValidationError as error:
        done.append(f"staff account not created: {'; '.join(error.errors.values())}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Settings and first staff account of a deployed stage")
    parser.add_argument("--stage", required=True)
    for name in ("name", "siret", "address", "postcode", "city", "contact-email", "contact-phone",
                 "staff-name", "staff-email"):
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args(argv)
    try:
        stage = load_stage(args.stage)
    except BuildError as error:
        print(f"infra.bootstrap: {error}", file=sys.stderr)
        return 2
    if "AWS_REGION" not in os.environ and "AWS_DEFAULT_REGION" not in os.environ:
        print("infra.bootstrap: set AWS_REGION to the stage's region", file=sys.stderr)
        return 2
    # The stage's settings, as its functions get them; no secret is needed to write these.
    os.environ.update(stage_environment(stage))
    from chalicelib.runtime import get_runtime

    identity = {"name": args.name, "siret": args.siret, "address": args.address, "postcode": args.postcode,
                "city": args.city, "contact_email": args.contact_email, "contact_phone": args.contact_phone}
    for line in bootstrap(get_runtime(), identity, args.staff_name, args.staff_email):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
