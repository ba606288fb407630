"""Tests of the sample project (Django's test runner: ``python -m django test sample.notes``)."""

# The suite runs under Django's (unittest) runner, where a bare assert reports no values: keep the
# unittest assertions that pytest-style rules would rewrite.
# ruff: noqa: PT009, PT027

import json
import os
import runpy
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client, SimpleTestCase, TestCase, override_settings
from django.urls import reverse

import sample
from sample import celery_app
from sample.env import Env, is_shared_cache, parse_bool, parse_cache_url, parse_database_url, parse_list
from sample.notes.models import Counter, Heartbeat, Note, Upload
from sample.notes.tasks import add_note, heartbeat

SRC_DIR = Path(sample.__file__).resolve().parent.parent
SETTINGS_FILE = str(SRC_DIR / "sample" / "settings.py")

# Views are tested without a collectstatic run (the hashed names are tested on their own below)
# and with a private per-process cache, whatever CACHE_URL the suite runs under.
TEST_SETTINGS = {
    "STORAGES": {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    },
    "CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "notes-tests"}},
}


def production_env(**overrides: str) -> dict[str, str]:
    """A production-like environment for the settings module (nothing secret: generated per run)."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "CACHE_", "CELERY_", "APP_RELEASE"))
    }
    environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "sample.settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_DEBUG": "false",
            "DJANGO_ALLOWED_HOSTS": "app.example.com",
            "DJANGO_CSRF_TRUSTED_ORIGINS": "https://app.example.com",
            "DJANGO_SECURE_SSL_REDIRECT": "true",
            "DJANGO_HSTS_SECONDS": "31536000",
            "DJANGO_HSTS_INCLUDE_SUBDOMAINS": "true",
            "DJANGO_HSTS_PRELOAD": "true",
            "DATABASE_URL": "sqlite:///:memory:",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH", "")])),
        }
    )
    environ.update(overrides)
    return environ


def load_settings(**environ: str) -> dict:
    """Evaluate sample/settings.py under ``environ`` (without touching the settings in use)."""
    with mock.patch.dict(os.environ, environ, clear=True):
        return runpy.run_path(SETTINGS_FILE, run_name="settings_under_test")


class HttpsClientMixin:
    """Requests arrive as from the TLS-terminating proxy (X-Forwarded-Proto: https)."""

    def setUp(self):
        super().setUp()
        self.client = Client(headers={"X-Forwarded-Proto": "https"})
        cache.clear()


@override_settings(**TEST_SETTINGS)
class HealthTests(HttpsClientMixin, TestCase):
    def test_healthy(self):
        response = self.client.get("/health/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "application/json")
        body = response.json()
        self.assertEqual(body["status"], "ok")
        self.assertIs(body["database"], True)
        self.assertIs(body["cache"], True)
        self.assertEqual(body["release"], settings.APP_RELEASE)
        self.assertEqual(response["X-App-Release"], settings.APP_RELEASE)
        self.assertIn("no-cache", response["Cache-Control"])

    def test_database_down_is_503_and_does_not_raise(self):
        with (
            mock.patch("sample.notes.views.connection.cursor", side_effect=RuntimeError("db down")),
            self.assertLogs(level="WARNING") as logs,
        ):
            response = self.client.get("/health/")
        self.assertIn("health: database check failed", logs.output[0])
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["status"], "error")
        self.assertIs(response.json()["database"], False)
        self.assertIs(response.json()["cache"], True)

    def test_cache_down_is_reported_but_healthy(self):
        with (
            mock.patch("sample.notes.views.cache.set", side_effect=ConnectionError("cache down")),
            self.assertLogs(level="WARNING") as logs,
        ):
            response = self.client.get("/health/")
        self.assertIn("health: cache check failed", logs.output[0])
        self.assertEqual(response.status_code, 200)
        self.assertIs(response.json()["cache"], False)

    @override_settings(SECURE_SSL_REDIRECT=True)
    def test_plain_http_redirects_except_health(self):
        plain = Client()
        self.assertEqual(plain.get("/health/").status_code, 200)
        response = plain.get("/", headers={"Host": "testserver"})
        self.assertEqual(response.status_code, 301)
        self.assertEqual(response["Location"], "https://testserver/")

    @override_settings(APP_RELEASE="20240101-abcdef")
    def test_release_header_and_payload(self):
        client = Client(headers={"X-Forwarded-Proto": "https"})
        response = client.get("/health/")
        self.assertEqual(response["X-App-Release"], "20240101-abcdef")
        self.assertEqual(response.json()["release"], "20240101-abcdef")


@override_settings(**TEST_SETTINGS)
class NoteTests(HttpsClientMixin, TestCase):
    def test_create_and_list(self):
        response = self.client.post("/", {"text": "hello from the test"})
        self.assertRedirects(response, "/", fetch_redirect_response=False)
        self.assertEqual(Note.objects.get().source, Note.Source.WEB)
        response = self.client.get("/")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "hello from the test")
        self.assertContains(response, "Note saved.")
        self.assertEqual(response["X-Frame-Options"], "DENY")
        self.assertEqual(response["X-Content-Type-Options"], "nosniff")

    def test_visits_are_counted(self):
        self.client.get("/")
        response = self.client.get("/")
        self.assertEqual(response.context["visits"], 2)
        self.assertEqual(Counter.objects.get(name="visits").value, 2)

    def test_empty_note_is_rejected(self):
        with self.assertLogs("django.request", "WARNING"):
            response = self.client.post("/", {"text": ""})
        self.assertEqual(response.status_code, 400)
        self.assertFalse(Note.objects.exists())

    def test_csrf_is_enforced(self):
        client = Client(enforce_csrf_checks=True, headers={"X-Forwarded-Proto": "https"})
        with self.assertLogs("django.security.csrf", "WARNING"):
            response = client.post("/", {"text": "forged"})
        self.assertEqual(response.status_code, 403)
        self.assertFalse(Note.objects.exists())

    def test_admin_login_page(self):
        response = self.client.get("/admin/login/")
        self.assertEqual(response.status_code, 200)


@override_settings(**TEST_SETTINGS)
class UploadTests(HttpsClientMixin, TestCase):
    def setUp(self):
        super().setUp()
        media = tempfile.TemporaryDirectory()
        self.addCleanup(media.cleanup)
        self.media_root = Path(media.name)
        override = override_settings(MEDIA_ROOT=str(self.media_root), MEDIA_URL="/media/")
        override.enable()
        self.addCleanup(override.disable)

    def test_upload_stores_file_and_links_it(self):
        upload = SimpleUploadedFile("report.txt", b"uploaded content\n", content_type="text/plain")
        response = self.client.post("/upload/", {"file": upload})
        stored = Upload.objects.get()
        self.assertRedirects(response, reverse("notes:upload-detail", args=[stored.pk]), fetch_redirect_response=False)
        path = self.media_root / stored.file.name
        self.assertTrue(path.is_file())
        self.assertEqual(path.read_bytes(), b"uploaded content\n")
        self.assertTrue(stored.file.name.startswith("uploads/"))

        response = self.client.get(response["Location"])
        self.assertContains(response, f'href="/media/{stored.file.name}"')

    def test_markup_is_refused(self):
        upload = SimpleUploadedFile("page.html", b"<script>alert(1)</script>", content_type="text/html")
        with self.assertLogs("django.request", "WARNING"):
            response = self.client.post("/upload/", {"file": upload})
        self.assertEqual(response.status_code, 400)
        self.assertFalse(Upload.objects.exists())

    @override_settings(UPLOAD_MAX_BYTES=4)
    def test_size_limit(self):
        with self.assertLogs("django.request", "WARNING"):
            response = self.client.post("/upload/", {"file": SimpleUploadedFile("big.txt", b"12345")})
        self.assertEqual(response.status_code, 400)
        self.assertFalse(Upload.objects.exists())


@override_settings(**TEST_SETTINGS)
class CachedViewTests(HttpsClientMixin, TestCase):
    def test_served_from_cache(self):
        first = self.client.get("/cached/")
        second = self.client.get("/cached/")
        self.assertEqual(first.status_code, 200)
        self.assertEqual(first["X-Rendered-At"], second["X-Rendered-At"])
        self.assertEqual(first.content, second.content)
        self.assertIn("max-age=60", second["Cache-Control"])

    def test_rendered_again_when_cache_is_cleared(self):
        first = self.client.get("/cached/")
        cache.clear()
        earlier = first.context["rendered_at"].replace(year=2001)
        with mock.patch("sample.notes.views.timezone.now", return_value=earlier):
            second = self.client.get("/cached/")
        self.assertNotEqual(first["X-Rendered-At"], second["X-Rendered-At"])


@override_settings(**TEST_SETTINGS)
class CeleryTests(HttpsClientMixin, TestCase):
    def setUp(self):
        super().setUp()
        # Eager whatever CELERY_BROKER_URL the suite runs under: no broker is needed here.
        for key in ("task_always_eager", "task_eager_propagates"):
            self.addCleanup(setattr, celery_app.conf, key, celery_app.conf[key])
            setattr(celery_app.conf, key, True)

    def test_eager_task_creates_note(self):
        result = add_note.delay("made by a task")
        note = Note.objects.get(pk=result.get())
        self.assertEqual(note.text, "made by a task")
        self.assertEqual(note.source, Note.Source.TASK)

    def test_tasks_endpoint(self):
        response = self.client.post("/tasks/", {"text": "queued over http"})
        self.assertEqual(response.status_code, 202)
        self.assertTrue(response.json()["task_id"])
        Note.objects.create(text="not from a task")
        body = self.client.get("/tasks/").json()
        self.assertEqual(body["count"], 1)
        self.assertEqual([note["text"] for note in body["notes"]], ["queued over http"])

    def test_tasks_endpoint_when_broker_is_down(self):
        with (
            mock.patch.object(add_note, "delay", side_effect=ConnectionError("broker down")),
            self.assertLogs(level="ERROR") as logs,
        ):
            response = self.client.post("/tasks/")
        self.assertIn("could not enqueue", logs.output[0])
        self.assertEqual(response.status_code, 503)

    def test_heartbeat(self):
        heartbeat.delay(scheduler="beat-host")
        beat = Heartbeat.objects.get()
        self.assertTrue(beat.hostname)
        self.assertEqual(beat.scheduler, "beat-host")
        self.assertEqual(beat.release, settings.APP_RELEASE)
        self.assertEqual(self.client.get("/tasks/").json()["heartbeats"][0]["scheduler"], "beat-host")

    def test_tasks_are_registered_and_scheduled(self):
        self.assertIn("notes.tasks.add_note", celery_app.tasks)
        self.assertIn("notes.tasks.heartbeat", celery_app.tasks)
        entry = settings.CELERY_BEAT_SCHEDULE["heartbeat"]
        self.assertEqual(entry["task"], "notes.tasks.heartbeat")
        self.assertGreater(entry["schedule"], 0)


class CollectstaticTests(TestCase):
    def test_hashed_names(self):
        with tempfile.TemporaryDirectory() as static_root, override_settings(STATIC_ROOT=static_root):
            call_command("collectstatic", interactive=False, verbosity=0)
            manifest = json.loads((Path(static_root) / "staticfiles.json").read_text())["paths"]
            css, svg = manifest["notes/style.css"], manifest["notes/logo.svg"]
            self.assertRegex(css, r"^notes/style\.[0-9a-f]{12}\.css$")
            self.assertRegex(svg, r"^notes/logo\.[0-9a-f]{12}\.svg$")
            self.assertTrue((Path(static_root) / svg).is_file())
            # url() inside the CSS points to the hashed logo
            self.assertIn(Path(svg).name, (Path(static_root) / css).read_text())
            # and pages link the hashed names
            client = Client(headers={"X-Forwarded-Proto": "https"})
            self.assertContains(client.get("/"), f"/static/{css}")


class ParseDatabaseUrlTests(SimpleTestCase):
    def test_postgres(self):
        db = parse_database_url("postgres://app:s%40cret@db.internal:6432/appdb?sslmode=require&connect_timeout=5")
        self.assertEqual(db["ENGINE"], "django.db.backends.postgresql")
        self.assertEqual(
            (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]),
            ("appdb", "app", "s@cret", "db.internal", "6432"),
        )
        self.assertEqual(db["OPTIONS"], {"sslmode": "require", "connect_timeout": "5"})
        self.assertIs(db["DISABLE_SERVER_SIDE_CURSORS"], False)

    def test_postgresql_scheme_defaults(self):
        db = parse_database_url("postgresql://app@localhost/app")
        self.assertEqual((db["HOST"], db["PORT"], db["PASSWORD"], db["OPTIONS"]), ("localhost", "", "", {}))

    def test_unix_socket_and_ipv6(self):
        self.assertEqual(parse_database_url("postgres://app@%2Frun%2FPostgreSQL/app")["HOST"], "/run/PostgreSQL")
        db = parse_database_url("postgres://app:pw@[2001:db8::5]:5432/app")
        self.assertEqual((db["HOST"], db["PORT"]), ("2001:db8::5", "5432"))

    def test_pgbouncer_and_persistent_connections(self):
        db = parse_database_url("postgres://a:b@pgbouncer:6432/app", conn_max_age=60, disable_server_side_cursors=True)
        self.assertIs(db["DISABLE_SERVER_SIDE_CURSORS"], True)
        self.assertEqual(db["CONN_MAX_AGE"], 60)
        self.assertIs(db["CONN_HEALTH_CHECKS"], True)

    def test_sqlite(self):
        self.assertEqual(parse_database_url("sqlite:////var/lib/app/db.sqlite3")["NAME"], "/var/lib/app/db.sqlite3")
        self.assertEqual(parse_database_url("sqlite:///db.sqlite3")["NAME"], "db.sqlite3")
        self.assertEqual(parse_database_url("sqlite://")["NAME"], ":memory:")
        self.assertEqual(parse_database_url("sqlite:///:memory:")["NAME"], ":memory:")
        self.assertEqual(parse_database_url("sqlite:///x")["ENGINE"], "django.db.backends.sqlite3")

    def test_invalid(self):
        for url in ("", "not a url", "mysql://a@b/c", "postgres://a@b:5432/", "postgres://a@b:port/c"):
            with self.subTest(url=url), self.assertRaises(ImproperlyConfigured):
                parse_database_url(url)


class TolerantRedisCacheTests(SimpleTestCase):
    def test_unreachable_redis_is_a_miss_not_an_error(self):
        from sample.cache import TolerantRedisCache

        cache = TolerantRedisCache(
            "redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}
        )
        self.assertIsNone(cache.get("key"))
        self.assertEqual(cache.get("key", "fallback"), "fallback")
        cache.set("key", "value")
        self.assertFalse(cache.add("key", "value"))
        self.assertEqual(cache.get_many(["a", "b"]), {})
        self.assertFalse(cache.delete("key"))


class ParseCacheUrlTests(SimpleTestCase):
    def test_memcached(self):
        cache_conf = parse_cache_url("memcached://127.0.0.1:11211")
        self.assertEqual(cache_conf["BACKEND"], "django.core.cache.backends.memcached.PyMemcacheCache")
        self.assertEqual(cache_conf["LOCATION"], "127.0.0.1:11211")
        self.assertTrue(is_shared_cache(cache_conf))

    def test_memcached_cluster_socket_and_timeouts(self):
        self.assertEqual(parse_cache_url("memcached://a:11211,b:11211")["LOCATION"], ["a:11211", "b:11211"])
        self.assertEqual(
            parse_cache_url("memcached:///run/memcached/memcached.sock")["LOCATION"],
            "unix:/run/memcached/memcached.sock",
        )
        options = parse_cache_url("memcached://a:11211?timeout=0.5&connect_timeout=1")["OPTIONS"]
        self.assertEqual((options["timeout"], options["connect_timeout"]), (0.5, 1.0))
        self.assertTrue(options["ignore_exc"], "a memcached server that is down must be a miss, not an error")
        with self.assertRaises(ImproperlyConfigured):
            parse_cache_url("memcached://a:11211?bogus=1")

    def test_redis(self):
        cache_conf = parse_cache_url("redis://:pw@cache.internal:6379/1", key_prefix="sample", timeout=60)
        self.assertEqual(cache_conf["BACKEND"], "sample.cache.TolerantRedisCache")
        self.assertEqual(cache_conf["LOCATION"], "redis://:pw@cache.internal:6379/1")
        self.assertEqual((cache_conf["KEY_PREFIX"], cache_conf["TIMEOUT"]), ("sample", 60))
        self.assertTrue(is_shared_cache(cache_conf))
        self.assertEqual(
            parse_cache_url("rediss://user:pw@h:6380/0,redis://r:6379/0")["LOCATION"][1], "redis://r:6379/0"
        )

    def test_locmem_is_the_default(self):
        for url in ("", "locmem://"):
            cache_conf = parse_cache_url(url)
            self.assertEqual(cache_conf["BACKEND"], "django.core.cache.backends.locmem.LocMemCache")
            self.assertFalse(is_shared_cache(cache_conf))
        self.assertEqual(parse_cache_url("dummy://")["BACKEND"], "django.core.cache.backends.dummy.DummyCache")

    def test_invalid(self):
        for url in ("memcached", "mongodb://x", "memcached://"):
            with self.subTest(url=url), self.assertRaises(ImproperlyConfigured):
                parse_cache_url(url)


class EnvTests(SimpleTestCase):
    def test_values(self):
        self.assertIs(parse_bool(" Yes "), True)
        self.assertIs(parse_bool("off"), False)
        with self.assertRaises(ImproperlyConfigured):
            parse_bool("maybe")
        self.assertEqual(parse_list(" a.example, ,b.example "), ["a.example", "b.example"])
        env = Env({"N": "0o640", "F": "2.5", "L": "x,y", "B": "1", "E": " "})
        self.assertEqual(
            (env.integer("N"), env.number("F"), env.csv("L"), env.flag("B")), (0o640, 2.5, ["x", "y"], True)
        )
        self.assertEqual(env.integer("MISSING", 7), 7)
        self.assertEqual(env.csv("MISSING", ["d"]), ["d"])
        self.assertIs(env.flag("MISSING"), False)
        with self.assertRaises(ImproperlyConfigured):
            env.required("E")
        with self.assertRaises(ImproperlyConfigured):
            env.integer("F")


class SettingsModuleTests(SimpleTestCase):
    def test_secret_key_is_required(self):
        environ = production_env()
        del environ["DJANGO_SECRET_KEY"]
        with self.assertRaisesMessage(ImproperlyConfigured, "DJANGO_SECRET_KEY"):
            load_settings(**environ)

    def test_database_url_is_required(self):
        environ = production_env()
        del environ["DATABASE_URL"]
        with self.assertRaisesMessage(ImproperlyConfigured, "DATABASE_URL"):
            load_settings(**environ)

    def test_production_defaults(self):
        values = load_settings(**production_env(APP_RELEASE="r1"))
        self.assertIs(values["DEBUG"], False)
        self.assertIs(values["SESSION_COOKIE_SECURE"], True)
        self.assertIs(values["CSRF_COOKIE_SECURE"], True)
        self.assertEqual(values["SECURE_PROXY_SSL_HEADER"], ("HTTP_X_FORWARDED_PROTO", "https"))
        self.assertEqual(values["X_FRAME_OPTIONS"], "DENY")
        self.assertEqual(values["ALLOWED_HOSTS"], ["app.example.com"])
        self.assertEqual(values["CSRF_TRUSTED_ORIGINS"], ["https://app.example.com"])
        self.assertEqual(values["APP_RELEASE"], "r1")
        self.assertTrue(values["STORAGES"]["staticfiles"]["BACKEND"].endswith("ManifestStaticFilesStorage"))
        self.assertEqual(values["SESSION_ENGINE"], "django.contrib.sessions.backends.db")
        self.assertIs(values["CELERY_TASK_ALWAYS_EAGER"], True)

    def test_debug_relaxes_cookies(self):
        values = load_settings(**production_env(DJANGO_DEBUG="true", DJANGO_SECURE_SSL_REDIRECT="false"))
        self.assertIs(values["DEBUG"], True)
        self.assertIs(values["SESSION_COOKIE_SECURE"], False)
        self.assertIs(values["CSRF_COOKIE_SECURE"], False)

    def test_full_stack(self):
        values = load_settings(
            **production_env(
                DATABASE_URL="postgres://app:pw@127.0.0.1:6432/app?sslmode=disable",
                DATABASE_DISABLE_SERVER_SIDE_CURSORS="true",
                DATABASE_CONN_MAX_AGE="0",
                CACHE_URL="memcached://127.0.0.1:11211",
                CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
                CELERY_HEARTBEAT_SECONDS="3",
                DJANGO_STATIC_ROOT="/srv/sample/static",
                DJANGO_MEDIA_ROOT="/srv/sample/media",
            )
        )
        db = values["DATABASES"]["default"]
        self.assertIs(db["DISABLE_SERVER_SIDE_CURSORS"], True)
        self.assertEqual((db["CONN_MAX_AGE"], db["OPTIONS"]), (0, {"sslmode": "disable"}))
        self.assertEqual(values["SESSION_ENGINE"], "django.contrib.sessions.backends.cached_db")
        self.assertIs(values["CELERY_TASK_ALWAYS_EAGER"], False)
        self.assertEqual(values["CELERY_BROKER_URL"], "redis://127.0.0.1:6379/0")
        self.assertEqual(values["CELERY_BEAT_SCHEDULE"]["heartbeat"]["schedule"], 3.0)
        self.assertEqual((values["STATIC_ROOT"], values["MEDIA_ROOT"]), ("/srv/sample/static", "/srv/sample/media"))


class DeployCheckTests(SimpleTestCase):
    """``manage.py check --deploy`` in a fresh process, as the deployment runs it."""

    def run_check(self, environ: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "django", "check", "--deploy", "--fail-level", "WARNING"],
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def test_production_settings_pass(self):
        result = self.run_check(production_env())
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("System check identified no issues", result.stdout)

    def test_debug_fails(self):
        result = self.run_check(production_env(DJANGO_DEBUG="true"))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("security.W018", result.stderr)


class ManageTests(SimpleTestCase):
    def test_console_script_entry_point(self):
        from sample.manage import main

        with mock.patch.object(sys, "argv", ["sample-manage", "check"]), mock.patch("sys.stdout"):
            main()
