"""Models of the notes app: small, but each one exercises a part of the deployed stack."""

from django.db import models
from django.db.models import F


class Note(models.Model):
    """A line of text, written by the web form, a Celery task or the admin (database writes)."""

    class Source(models.TextChoices):
        WEB = "web", "web form"
        TASK = "task", "Celery task"
        ADMIN = "admin", "admin"

    text = models.CharField(max_length=500)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.WEB, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.text


class Upload(models.Model):
    """A user-uploaded file stored under MEDIA_ROOT (shared media storage)."""

    file = models.FileField(upload_to="uploads/%Y/%m/")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-uploaded_at", "-id")

    def __str__(self) -> str:
        return self.file.name


class Counter(models.Model):
    """A named counter, incremented atomically in the database (visit counts)."""

    name = models.CharField(max_length=64, unique=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"

    @classmethod
    def increment(cls, name: str) -> int:
        """Add one to the counter ``name`` (creating it) and return the new value."""
        cls.objects.get_or_create(name=name)
        cls.objects.filter(name=name).update(value=F("value") + 1)
        return cls.objects.values_list("value", flat=True).get(name=name)


class Heartbeat(models.Model):
    """Written by the periodic ``notes.tasks.heartbeat`` task: which worker ran it, which beat sent it."""

    hostname = models.CharField(max_length=255, help_text="host of the worker that ran the task")
    scheduler = models.CharField(max_length=255, blank=True, help_text="host of the beat that scheduled it")
    release = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.hostname} at {self.created_at:%Y-%m-%d %H:%M:%S}"
