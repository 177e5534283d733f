"""Work done after the answer: a task is queued by the request and done by a consumer.

« Mot de passe oublié » queues one task whatever the address, so the answer takes the same time
whether an account exists or not (the link is made and mailed by the consumer). In AWS the
queue is SQS, consumed by ``process_task`` within seconds (a failure leaves the message for a
later delivery, then its dead-letter queue). ``tasks_inline`` (the tests' and the local
stage's default) does the task inside the request instead; ``make run`` drains the real queue
in a background thread.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from ..runtime import Runtime

log = logging.getLogger(__name__)

PASSWORD_RESET = "password_reset"  # args: email, source_ip
AFTER_SUBMIT = "after_submit"  # args: org_id, year, contact_id, attempt
PREPARE_QUOTE = "prepare_quote"  # args: org_id
CHORUS_DEPOSIT = "chorus_deposit"  # args: number (an invoice or credit note of a public buyer)


@dataclass(frozen=True)
class Task:
    kind: str
    args: dict = field(default_factory=dict)  # JSON values only

    def dumps(self) -> str:
        return json.dumps({"kind": self.kind, "args": self.args})

    @classmethod
    def loads(cls, body: str) -> Task:
        data = json.loads(body)
        return cls(str(data["kind"]), dict(data.get("args") or {}))


def enqueue(rt: Runtime, *queued: Task, inline_if_queue_fails: bool = False) -> None:
    """Queue the tasks (or do them now with ``tasks_inline``). ``inline_if_queue_fails``: if SQS
    refuses them, do them in this request rather than lose them (slower, never lost)."""
    if not rt.config.tasks_inline:
        try:
            rt.task_queue.send_many([task.dumps() for task in queued])
            return
        except Exception:
            if not inline_if_queue_fails:
                raise
            log.exception("%s task(s) not queued: done in the request instead", len(queued))
    for task in queued:
        run(rt, task)


def prepare_quotes(rt: Runtime, org_ids: list[str]) -> None:
    """Queue the making of each organisation's quote for the coming season; never raises (a
    quote not prepared is made when the member asks for it)."""
    try:
        enqueue(rt, *(Task(PREPARE_QUOTE, {"org_id": org_id}) for org_id in org_ids))
    except Exception:
        log.exception("%s quote(s) not prepared: they will be made on the member's click", len(org_ids))


def run(rt: Runtime, task: Task) -> None:
    """Do one task; raise to have it delivered again."""
    from . import auth, chorus, documents, renewal

    if task.kind == PASSWORD_RESET:
        auth.send_reset_link(rt, str(task.args["email"]), str(task.args.get("source_ip", "")))
    elif task.kind == AFTER_SUBMIT:
        a = task.args
        renewal.after_submit(rt, str(a["org_id"]), int(a["year"]), str(a["contact_id"]),
                             int(a["attempt"]) if a.get("attempt") is not None else None)
    elif task.kind == PREPARE_QUOTE:
        documents.prepare_quote(rt, str(task.args["org_id"]))
    elif task.kind == CHORUS_DEPOSIT:
        chorus.deposit(rt, str(task.args["number"]))
    else:
        log.error("unknown task %r dropped", task.kind)


def process(rt: Runtime, body: str) -> str:
    task = Task.loads(body)
    run(rt, task)
    return task.kind


def drain(rt: Runtime, max_tasks: int = 100, visibility_seconds: int = 60) -> int:
    """Do what is queued now (the local server's background thread); return how many were done.
    A task that fails stays hidden for ``visibility_seconds``, then is delivered again, as SQS does."""
    done = 0
    while done < max_tasks and (received := rt.task_queue.receive(max_messages=10,
                                                                  visibility_seconds=visibility_seconds)):
        for message in received:
            try:
                process(rt, message.body)
            except Exception:
                log.exception("task failed; it will be delivered again")
                continue
            rt.task_queue.delete(message.receipt)
            done += 1
    return done
