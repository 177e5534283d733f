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
from dataclasses import dataclass

from ..runtime import Runtime

log = logging.getLogger(__name__)

PASSWORD_RESET = "password_reset"


@dataclass(frozen=True)
class Task:
    kind: str
    email: str = ""
    source_ip: str = ""

    def dumps(self) -> str:
        return json.dumps({"kind": self.kind, "email": self.email, "source_ip": self.source_ip})

    @classmethod
    def loads(cls, body: str) -> Task:
        data = json.loads(body)
        return cls(str(data["kind"]), str(data.get("email", "")), str(data.get("source_ip", "")))


def enqueue(rt: Runtime, task: Task) -> None:
    if rt.config.tasks_inline:
        run(rt, task)
    else:
        rt.task_queue.send_many([task.dumps()])


def run(rt: Runtime, task: Task) -> None:
    """Do one task; raise to have it delivered again."""
    from . import auth

    if task.kind == PASSWORD_RESET:
        auth.send_reset_link(rt, task.email, task.source_ip)
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
