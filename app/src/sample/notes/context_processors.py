import socket

from django.conf import settings

HOSTNAME = socket.gethostname()


def deployment(request):
    """Which release and which host rendered the page (shown in every page's footer)."""
    return {"app_release": settings.APP_RELEASE, "hostname": HOSTNAME}
