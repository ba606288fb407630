"""Celery application: ``celery -A sample worker`` and ``celery -A sample beat``.

Configuration comes from Django's settings (``CELERY_*``), i.e. from the environment:
``CELERY_BROKER_URL`` picks the broker; without it tasks run eagerly in the calling process.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sample.settings")

app = Celery("sample")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
