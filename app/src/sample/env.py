"""Small, dependency-free helpers that turn environment variables into Django settings.

Everything here is pure: the functions take strings (or a mapping) and return values,
so they are unit-tested without touching ``os.environ`` or Django's settings.
"""

from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = frozenset({"1", "true", "yes", "on", "y", "t"})
FALSE_VALUES = frozenset({"0", "false", "no", "off", "n", "f", ""})

POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "pgsql"})
SQLITE_SCHEMES = frozenset({"sqlite", "sqlite3"})
MEMCACHED_SCHEMES = frozenset({"memcached", "pymemcache"})
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


def parse_bool(value: str, *, name: str = "value") -> bool:
    """``"true"``/``"1"``/``"yes"``/``"on"`` -> True, ``"false"``/``"0"``/``"no"``/``"off"``/``""`` -> False."""
    normalized = value.strip().lower()
    if normalized in TRUE_VALUES:
        return True
    if normalized in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0, yes/no, on/off), got {value!r}")


def parse_list(value: str) -> list[str]:
    """Comma-separated list; blanks and surrounding spaces are dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


class Env:
    """Typed reads from an environment mapping (``os.environ`` in settings)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def string(self, name: str, default: str = "") -> str:
        return self.environ.get(name, default)

    def required(self, name: str) -> str:
        value = self.environ.get(name, "")
        if not value.strip():
            raise ImproperlyConfigured(f"The {name} environment variable is required")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        if name not in self.environ:
            return default
        return parse_bool(self.environ[name], name=name)

    def integer(self, name: str, default: int = 0) -> int:
        raw = self.environ.get(name, "").strip()
        if not raw:
            return default
        try:
            return int(raw, 0)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None

    def number(self, name: str, default: float = 0.0) -> float:
        raw = self.environ.get(name, "").strip()
        if not raw:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None

    def csv(self, name: str, default: list[str] | None = None) -> list[str]:
        if name not in self.environ:
            return list(default or [])
        return parse_list(self.environ[name])


def _split_host_port(hostport: str) -> tuple[str, str]:
    """``host:port`` / ``[v6]:port`` / ``host`` -> (host, port); case and %-escapes are preserved."""
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        return host, rest.removeprefix(":")
    if hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
        return host, port
    return hostport, ""


def parse_database_url(
    url: str,
    *,
    conn_max_age: int = 0,
    disable_server_side_cursors: bool = False,
) -> dict:
    """Turn a database URL into one entry of Django's ``DATABASES``.

    Supported:

    * ``postgres://user:pass@host:port/name?sslmode=require`` (also ``postgresql://``):
      every query parameter is a libpq connection parameter and goes to ``OPTIONS``
      (``sslmode``, ``sslrootcert``, ``connect_timeout``, ``application_name``, ...).
      A Unix socket directory is given as a percent-encoded host:
      ``postgres://app@%2Frun%2Fpostgresql/app``. Credentials may be percent-encoded.
    * ``sqlite:////absolute/path.sqlite3``, ``sqlite:///relative.sqlite3``,
      ``sqlite://`` or ``sqlite:///:memory:`` (in-memory).

    ``disable_server_side_cursors`` must be true behind pgbouncer in transaction pooling mode.
    """
    if not url or "://" not in url:
        raise ImproperlyConfigured(f"DATABASE_URL is not a URL: {url!r}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()

    if scheme in SQLITE_SCHEMES:
        path = unquote(parts.path)
        # sqlite:////abs -> path "//abs" -> "/abs"; sqlite:///rel -> "/rel" -> "rel"
        name = path[1:] if path.startswith("/") else path
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name or ":memory:",
            "CONN_MAX_AGE": conn_max_age,
        }

    if scheme in POSTGRES_SCHEMES:
        hostport = parts.netloc.rpartition("@")[2]
        host, port = _split_host_port(hostport)
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured("DATABASE_URL has no database name (postgres://user:pass@host:port/NAME)")
        if port and not port.isdigit():
            raise ImproperlyConfigured(f"DATABASE_URL has an invalid port: {port!r}")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(host),
            "PORT": port,
            "CONN_MAX_AGE": conn_max_age,
            "CONN_HEALTH_CHECKS": conn_max_age != 0,
            "DISABLE_SERVER_SIDE_CURSORS": disable_server_side_cursors,
            "OPTIONS": dict(parse_qsl(parts.query)),
        }

    raise ImproperlyConfigured(f"DATABASE_URL scheme {parts.scheme!r} is not supported (use postgres:// or sqlite://)")


def parse_cache_url(url: str, *, key_prefix: str = "", timeout: int = 300) -> dict:
    """Turn a cache URL into one entry of Django's ``CACHES``.

    * ``memcached://host:port`` (several: ``memcached://h1:11211,h2:11211``; a socket:
      ``memcached:///run/memcached/memcached.sock``) -> ``PyMemcacheCache``.
      Query parameters ``timeout`` and ``connect_timeout`` (seconds) go to the client.
    * ``redis://user:pass@host:port/db`` (also ``rediss://`` and ``unix://``) -> Django's
      built-in ``RedisCache``; the URL is handed to redis-py as is (several comma-separated
      URLs: the first is the primary, the others replicas).
    * ``locmem://`` or ``locmem://name`` (default) -> per-process ``LocMemCache``.
    * ``dummy://`` -> ``DummyCache`` (caches nothing).
    """
    url = url or "locmem://"
    if "://" not in url:
        raise ImproperlyConfigured(f"CACHE_URL is not a URL: {url!r}")
    scheme = url.partition("://")[0].lower()
    common = {"KEY_PREFIX": key_prefix, "TIMEOUT": timeout}

    if scheme == "locmem":
        return {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": urlsplit(url).netloc,
            **common,
        }
    if scheme == "dummy":
        return {"BACKEND": "django.core.cache.backends.dummy.DummyCache", **common}

    if scheme in MEMCACHED_SCHEMES:
        parts = urlsplit(url)
        if parts.netloc:
            locations = [loc.strip() for loc in parts.netloc.split(",") if loc.strip()]
        elif parts.path:
            locations = [f"unix:{unquote(parts.path)}"]
        else:
            raise ImproperlyConfigured(f"CACHE_URL has no memcached server: {url!r}")
        # A cache that is down is a miss, not an error: the site answers from the
        # database (slower) and a dead server is retried after dead_timeout seconds.
        options: dict = {
            "no_delay": True,
            "ignore_exc": True,
            "connect_timeout": 1.0,
            "timeout": 1.0,
            "dead_timeout": 10,
        }
        for key, value in parse_qsl(parts.query):
            if key not in {"timeout", "connect_timeout"}:
                raise ImproperlyConfigured(f"CACHE_URL: unsupported memcached option {key!r}")
            try:
                options[key] = float(value)
            except ValueError:
                raise ImproperlyConfigured(f"CACHE_URL: {key} must be a number, got {value!r}") from None
        return {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": locations[0] if len(locations) == 1 else locations,
            "OPTIONS": options,
            **common,
        }

    if scheme in REDIS_SCHEMES:
        locations = [loc.strip() for loc in url.split(",") if loc.strip()]
        # Like memcached above: a cache that is down is a miss (sample.cache).
        return {
            "BACKEND": "sample.cache.TolerantRedisCache",
            "LOCATION": locations[0] if len(locations) == 1 else locations,
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
            **common,
        }

    raise ImproperlyConfigured(f"CACHE_URL scheme {scheme!r} is not supported (memcached://, redis://, locmem://)")


def is_shared_cache(cache: dict) -> bool:
    """True when the cache is shared between processes (memcached, redis), so sessions may live in it."""
    return cache["BACKEND"].rsplit(".", 1)[-1] in {"PyMemcacheCache", "RedisCache", "TolerantRedisCache"}
