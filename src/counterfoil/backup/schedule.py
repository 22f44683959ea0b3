"""Backups taken on a schedule while Counterfoil serves.

``COUNTERFOIL_BACKUP_EVERY`` (``6h``, ``30m``, ``1d``, or seconds) starts a thread in
``counterfoil serve`` that takes a backup every so often, with the key file and retention
of the settings. A failed backup is logged and counted (``counterfoil_backups_total``)
and the next one is tried at its time; it never stops the server.
"""

from __future__ import annotations

import logging
import re
import threading

from counterfoil.backup.crypto import BackupKey
from counterfoil.backup.take import take_backup
from counterfoil.core.errors import CounterfoilError, ValidationError
from counterfoil.i18n import _
from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import Actor

log = logging.getLogger("counterfoil.backup")
SCHEDULE = Actor("backup-schedule", "local")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> float:
    """``6h`` → 21600.0; a number alone is seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text.lower())
    if not match or int(match.group(1)) == 0:
        raise ValidationError(
            "COUNTERFOIL_BACKUP_EVERY",
            _("expected a period such as 6h, 30m, 1d or a number of seconds, not {value}"),
            value=text[:40],
        )
    return float(int(match.group(1)) * _UNITS[match.group(2) or "s"])


class BackupSchedule:
    def __init__(self, cf: Counterfoil, every: float, key: BackupKey | None) -> None:
        self.cf, self.every, self.key = cf, every, key
        self.taken = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="counterfoil-backup", daemon=True)

    def start(self) -> BackupSchedule:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                result = take_backup(self.cf, key=self.key, actor=SCHEDULE)
            except CounterfoilError as exc:
                self.failed += 1
                log.error("scheduled backup failed: %s", exc.render("en"))
            except Exception:
                self.failed += 1
                log.exception("scheduled backup failed")
            else:
                self.taken += 1
                log.info(
                    "scheduled backup taken",
                    extra={"path": str(result.path), "seconds": round(result.seconds, 3)},
                )


def start_schedule(cf: Counterfoil) -> BackupSchedule | None:
    """The schedule of the settings, started; None when no period is set."""
    every = cf.settings.backup_every
    if not every:
        return None
    key_file = cf.settings.backup_key_file
    key = BackupKey.from_file(key_file) if key_file else None
    return BackupSchedule(cf, parse_interval(every), key).start()
