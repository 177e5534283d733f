"""``make run``: the app on 127.0.0.1 with moto's server in this process as the AWS stand-in.

Everything lives in memory: stopping the process forgets all data and emails.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _start_moto() -> tuple[object, str]:
    from moto.server import ThreadedMotoServer

    from chalicelib.local.atomic_moto import make_dynamodb_atomic

    make_dynamodb_atomic()  # the server answers requests on threads: writes as atomic as DynamoDB's
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def _start_chorus_pro():
    """The Chorus Pro stand-in, on loopback, with the demo buyers' directory."""
    from chalicelib.local.chorus_standin import ChorusProStandIn

    standin = ChorusProStandIn()
    standin.start()
    return standin


def _drain_tasks_forever(rt, stop, interval: float = 0.2) -> None:
    """SQS's event source mapping, locally: tasks queued by requests are done within a second."""
    import time

    from chalicelib.services import tasks

    # time.sleep, not stop.wait(interval): a timed wait on a condition never returns under
    # Debian's faketime (its monotonic clock), which the season tests run the server with.
    while not stop.is_set():
        time.sleep(interval)
        try:
            tasks.drain(rt)
        except Exception:  # the stand-in stopping, or a bug: keep serving pages, say it
            logging.getLogger(__name__).exception("local task drain failed")


def prepare_environment(port: int, endpoint: str, today: str = "", chorus_url: str = "") -> None:
    """Point every AWS client at the stand-in, before any app module is imported.

    ``today`` (``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM``, Paris time) starts the app's clock on
    that day; empty keeps ``APP_TODAY`` if set, else the real clock.
    """
    if today:
        os.environ["APP_TODAY"] = today
    os.environ.update({
        "APP_STAGE": "local",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-west-3"),
        "BASE_URL": f"http://127.0.0.1:{port}",
        "TASKS_INLINE": "0",  # tasks go through the (stand-in) queue, drained by a thread: see below
    })
    if chorus_url:
        import json

        from chalicelib.local.chorus_standin import DEMO_CREDENTIALS

        os.environ.update({"CHORUS_PRO_API_URL": chorus_url, "CHORUS_PRO_OAUTH_URL": chorus_url,
                           "CHORUS_PRO_CREDENTIALS": json.dumps(DEMO_CREDENTIALS)})
    os.environ.pop("AWS_PROFILE", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Adhésions en ligne, local server")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--today", default=os.environ.get("TODAY", ""),
                        help="the app's today: YYYY-MM-DD (10:00, Paris) or YYYY-MM-DDTHH:MM; default: the real date")
    args = parser.parse_args(argv)
    if args.today:
        from chalicelib.config import parse_clock_start
        try:
            parse_clock_start(args.today)
        except ValueError as error:
            parser.error(str(error))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("chalicelib").setLevel(logging.INFO)

    moto_server, endpoint = _start_moto()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every SQS poll otherwise
    standin = _start_chorus_pro()
    prepare_environment(args.port, endpoint, args.today, standin.url)
    sys.path.insert(0, str(ROOT))

    from chalice.config import Config as ChaliceConfig
    from chalice.local import create_local_server

    from app import app
    from chalicelib.adapters.local_aws import create_resources
    from chalicelib.local.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, load_demo, open_season
    from chalicelib.runtime import get_runtime
    from chalicelib.web import dev_routes

    rt = get_runtime()
    standin.clock = rt.clock  # statuses dated on the app's (possibly simulated) day
    dev_routes.STANDIN = standin
    create_resources(rt.config)
    logins = load_demo(rt)

    config = ChaliceConfig.create(chalice_stage="local", app_name=app.app_name, project_dir=str(ROOT))
    server = create_local_server(app, config, "127.0.0.1", args.port)
    import threading

    stop = threading.Event()
    threading.Thread(target=_drain_tasks_forever, args=(rt, stop), name="tasks", daemon=True).start()
    url = f"http://127.0.0.1:{args.port}"
    print(f"\nAdhésions en ligne — {url}", flush=True)
    print(f"Boîte aux lettres de développement : {url}/_dev/courriels")
    print(f"AWS simulé (moto) : {endpoint} — données en mémoire, perdues à l'arrêt")
    print(f"Chorus Pro simulé : {standin.url} — factures déposées visibles et modifiables sur {url}/_dev/taches")
    simulated = " (date simulée)" if rt.config.clock_start else ""
    print(f"Aujourd'hui pour l'application : {rt.today():%d/%m/%Y}{simulated} — campagne {open_season(rt)}")
    print(f"Comptes de démonstration (mot de passe pour tous : {DEMO_PASSWORD}) :")
    for name, email, where in logins:
        print(f"  {email:40} {name} — {where}")
    print(f"Second facteur de l'équipe : clé TOTP {DEMO_TOTP_SECRET} à ajouter dans une application "
          f"d'authentification, ou code du moment sur {url}/_dev/taches")
    print("Ctrl+C pour arrêter.\n", flush=True)
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        standin.stop()
        moto_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
