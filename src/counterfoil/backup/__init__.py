"""Backups: a consistent copy of a running store with a manifest, its check and its restore.

``take.py`` takes one (SQLite online backup, or pg_dump of an exported snapshot),
``crypto.py`` encrypts it (AES-256-GCM in chunks, key file), ``manifest.py`` says what is
in it, ``restore.py`` checks a backup and restores it into a fresh store, and
``schedule.py`` takes backups while serving.
"""
