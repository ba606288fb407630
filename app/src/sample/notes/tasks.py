"""Celery tasks. Names are fixed (``notes.tasks.*``) so that they do not depend on the import path."""

import socket

from celery import shared_task
from django.conf import settings

from sample.notes.models import Heartbeat, Note


@shared_task(name="notes.tasks.add_note")
def add_note(text: str) -> int:
    """Create a Note with source "task" and return its id."""
    return Note.objects.create(text=text[:500], source=Note.Source.TASK).pk


@shared_task(name="notes.tasks.heartbeat", ignore_result=True)
def heartbeat(scheduler: str = "") -> int:
    """Record that a worker ran the periodic heartbeat (and which beat host scheduled it)."""
    return Heartbeat.objects.create(
        hostname=socket.gethostname(),
        scheduler=scheduler[:255],
        release=settings.APP_RELEASE[:100],
    ).pk
