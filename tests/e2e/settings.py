"""Settings of the processes the browser tests start (daphne and the django-q2 worker): the project's own
settings, pointed at the test database that pytest-django created for this session."""

import os

from config.settings import *  # noqa: F403
from config.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["E2E_DATABASE_NAME"]
