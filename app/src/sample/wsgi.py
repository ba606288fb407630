"""WSGI entry point: ``gunicorn sample.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sample.settings")

application = get_wsgi_application()
