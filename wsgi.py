"""WSGI entry point: `gunicorn wsgi:app` (or `flask --app wsgi run`)."""

from magic_cube.app import create_app

app = create_app()
