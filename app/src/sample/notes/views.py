"""Views of the notes app: each page exercises one part of the deployed stack."""

import logging
import secrets
from pathlib import PurePath

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import cache_page, never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from sample.notes.context_processors import HOSTNAME
from sample.notes.forms import NoteForm, UploadForm
from sample.notes.models import Counter, Heartbeat, Note, Upload
from sample.notes.tasks import add_note

logger = logging.getLogger(__name__)


def database_ok() -> bool:
    """True when the default database answers ``SELECT 1``; never raises."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.warning("health: database check failed", exc_info=True)
        return False


def cache_ok() -> bool:
    """True when the default cache stores and returns a value; never raises."""
    key = f"health:{secrets.token_hex(8)}"
    value = secrets.token_hex(8)
    try:
        cache.set(key, value, timeout=30)
        ok = cache.get(key) == value
        cache.delete(key)
    except Exception:
        logger.warning("health: cache check failed", exc_info=True)
        return False
    return ok


@never_cache
@require_safe
def health(request):
    """Liveness and dependencies: 200 when the database answers, 503 otherwise."""
    database = database_ok()
    payload = {
        "status": "ok" if database else "error",
        "release": settings.APP_RELEASE,
        "database": database,
        "cache": cache_ok(),
        "hostname": HOSTNAME,
    }
    return JsonResponse(payload, status=200 if database else 503)


@require_http_methods(["GET", "HEAD", "POST"])
def index(request):
    """Lists notes (database reads), adds one from the form (database write), counts visits."""
    if request.method == "POST":
        form = NoteForm(request.POST)
        if form.is_valid():
            form.save()
            messages.success(request, "Note saved.")
            return redirect("notes:index")
    else:
        form = NoteForm()
    context = {
        "form": form,
        "notes": Note.objects.all()[:50],
        "note_count": Note.objects.count(),
        "visits": Counter.increment("visits"),
    }
    return render(request, "notes/index.html", context, status=400 if form.errors else 200)


@cache_page(60)
@require_safe
def cached(request):
    """Rendered at most once a minute per URL: X-Rendered-At stays the same while the cache holds it."""
    rendered_at = timezone.now()
    response = render(request, "notes/cached.html", {"rendered_at": rendered_at})
    response["X-Rendered-At"] = rendered_at.isoformat()
    return response


@require_http_methods(["GET", "HEAD", "POST"])
def upload(request):
    """Stores an uploaded file under MEDIA_ROOT, then shows where it is served from."""
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            stored = form.save()
            return redirect("notes:upload-detail", pk=stored.pk)
    else:
        form = UploadForm()
    context = {"form": form, "uploads": Upload.objects.all()[:20]}
    return render(request, "notes/upload.html", context, status=400 if form.errors else 200)


@require_safe
def upload_detail(request, pk: int):
    stored = get_object_or_404(Upload, pk=pk)
    return render(request, "notes/upload_detail.html", {"upload": stored, "name": PurePath(stored.file.name).name})


# An unauthenticated JSON endpoint for the deployment's tests: without a session or cookies to
# protect, CSRF protection would add nothing, so curl can POST without fetching a token first.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def tasks(request):
    """POST enqueues ``notes.tasks.add_note`` (202 + task id); GET lists the task-made notes and heartbeats."""
    if request.method == "POST":
        text = request.POST.get("text", "").strip() or f"written by a task queued at {timezone.now():%H:%M:%S}"
        try:
            result = add_note.delay(text[:500])
        except Exception:
            logger.exception("tasks: could not enqueue notes.tasks.add_note")
            return JsonResponse({"status": "error", "error": "could not enqueue the task"}, status=503)
        return JsonResponse(
            {"status": "queued", "task_id": result.id, "eager": bool(settings.CELERY_TASK_ALWAYS_EAGER)},
            status=202,
        )
    notes = Note.objects.filter(source=Note.Source.TASK)
    return JsonResponse(
        {
            "count": notes.count(),
            "notes": [
                {"id": note.pk, "text": note.text, "created_at": note.created_at.isoformat()} for note in notes[:50]
            ],
            "heartbeats": [
                {
                    "hostname": beat.hostname,
                    "scheduler": beat.scheduler,
                    "release": beat.release,
                    "created_at": beat.created_at.isoformat(),
                }
                for beat in Heartbeat.objects.all()[:20]
            ],
        }
    )
