"""A Redis cache that degrades to misses when Redis is unreachable.

Django's RedisCache raises when the server is down, so a stopped cache would turn
every cached page and cache-backed session into a 500. Here a read is a miss and a
write is dropped (logged), and the site answers from the database until Redis is
back; redis-py reconnects by itself.
"""

from __future__ import annotations

import logging

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class TolerantRedisCache(RedisCache):
    def _tolerate(self, operation: str, default, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except UNREACHABLE:
            logger.warning("cache: redis unreachable during %s; treated as a miss", operation)
            return default

    def get(self, key, default=None, version=None):
        return self._tolerate("get", default, super().get, key, default, version)

    def get_many(self, keys, version=None):
        return self._tolerate("get_many", {}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._tolerate("has_key", False, super().has_key, key, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._tolerate("add", False, super().add, key, value, timeout, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._tolerate("set", None, super().set, key, value, timeout, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._tolerate("set_many", list(data), super().set_many, data, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._tolerate("touch", False, super().touch, key, timeout, version)

    def delete(self, key, version=None):
        return self._tolerate("delete", False, super().delete, key, version)

    def delete_many(self, keys, version=None):
        return self._tolerate("delete_many", None, super().delete_many, keys, version)
