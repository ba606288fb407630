"""Middleware of the sample project."""

from django.conf import settings


class ReleaseHeaderMiddleware:
    """Adds ``X-App-Release`` to every response so a client can tell which release served it."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.release = settings.APP_RELEASE

    def __call__(self, request):
        response = self.get_response(request)
        response["X-App-Release"] = self.release
        return response
