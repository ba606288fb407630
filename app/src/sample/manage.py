"""Django's command-line utility, installed as the ``sample-manage`` console script.

``sample-manage migrate`` is ``django-admin migrate`` with ``DJANGO_SETTINGS_MODULE`` defaulting to
``sample.settings``; ``python -m sample.manage ...`` does the same.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sample.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
