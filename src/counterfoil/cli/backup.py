"""Commands: backup (take one, verify, list, make a key) and restore."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from counterfoil.backup.crypto import BackupKey, new_key_file
from counterfoil.backup.restore import restore as restore_backup
from counterfoil.backup.restore import verify_backup
from counterfoil.backup.take import backups_in, take_backup
from counterfoil.cli.output import console, err_console, guarded, print_json, table
from counterfoil.config import load_settings
from counterfoil.i18n import _, translate
from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import Actor

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="Backup key file (64 hex digits); default $COUNTERFOIL_BACKUP_KEY_FILE",
    ),
]
CLI = Actor("cli", "local")

backup = typer.Typer(
    help="Back the store up (a consistent copy while it serves), check and list backups.",
    invoke_without_command=True,
)


def _key(path: Path | None) -> BackupKey | None:
    path = path or load_settings().backup_key_file
    return BackupKey.from_file(path) if path else None


@backup.callback()
@guarded
def take(
    ctx: typer.Context,
    to: Annotated[
        Path | None,
        typer.Option("--to", help="Directory of backups; default $COUNTERFOIL_BACKUP_DIR"),
    ] = None,
    key_file: KeyOpt = None,
    keep: Annotated[
        int | None,
        typer.Option(help="Keep the newest N backups there (0: all); default 7"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Take a backup now: the database as of one moment, a manifest, the keys if encrypted."""
    if ctx.invoked_subcommand is not None:
        return
    key = _key(key_file)
    cf = Counterfoil.open()
    try:
        result = take_backup(cf, to=to, key=key, keep=keep, actor=CLI)
    finally:
        cf.close()
    if as_json:
        print_json(result.as_dict())
        return
    document = result.as_dict()
    console.print(
        translate(
            _("backup of {entries} entries ({journals} journals) in {path}, {seconds} s"),
            entries=document["entries"],
            journals=len(document["journals"]),
            path=document["path"],
            seconds=document["seconds"],
        ),
        highlight=False,
    )
    if not result.manifest.keys_included:
        err_console.print(
            translate(
                _(
                    "not encrypted: the merchants' private keys are not in it (a store "
                    "restored from it verifies but cannot sign)"
                )
            ),
            highlight=False,
        )
    for name in result.removed:
        console.print(translate(_("removed old backup {name}"), name=name), highlight=False)


@backup.command("verify")
@guarded
def verify(
    path: Annotated[Path, typer.Argument(help="A backup directory")],
    key_file: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a backup: every file whole, encrypted parts genuine, the database as listed."""
    result = verify_backup(path, _key(key_file))
    if as_json:
        print_json(result)
        return
    console.print(
        translate(
            _("backup {path} is whole: {entries} entries in {journals} journals"),
            path=result["path"],
            entries=result["entries"],
            journals=result["journals"],
        ),
        highlight=False,
    )
    if not result["contents_checked"]:
        err_console.print(
            translate(_("encrypted: its contents were not checked (give --key-file)")),
            highlight=False,
        )


@backup.command("list")
@guarded
def list_backups(
    to: Annotated[
        Path | None,
        typer.Option("--to", help="Directory of backups; default $COUNTERFOIL_BACKUP_DIR"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The backups in the directory, oldest first."""
    from counterfoil.backup.manifest import Manifest

    directory = to or load_settings().backups_dir
    found = []
    for path in backups_in(directory):
        manifest = Manifest.read(path)
        found.append(
            {
                "path": str(path),
                "created_at": manifest.created_at,
                "database": manifest.database,
                "encrypted": manifest.encrypted,
                "entries": sum(int(j["entries"]) for j in manifest.journals.values()),
            }
        )
    if as_json:
        print_json(found)
    else:
        table(
            _("Backups"),
            ("path", "created_at", "database", "encrypted", "entries"),
            [tuple(item.values()) for item in found],
        )


@backup.command("key")
@guarded
def make_key(
    out: Annotated[Path, typer.Option("--out", help="Where to write the new key file (0600)")],
) -> None:
    """Make a new backup key file. Keep a copy away from the backups: without it they cannot
    be read."""
    key = new_key_file(out)
    console.print(
        translate(_("backup key {key_id} written to {path}"), key_id=key.key_id, path=str(out)),
        highlight=False,
    )


def restore(
    path: Annotated[Path, typer.Argument(help="A backup directory")],
    key_file: KeyOpt = None,
    full: Annotated[
        bool, typer.Option("--full", help="Check every entry's signature after restoring")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Restore a backup into a fresh store ($COUNTERFOIL_HOME, COUNTERFOIL_DATABASE_URL),
    then check it against the manifest and verify every journal."""
    result = restore_backup(load_settings(), path, _key(key_file), full=full, actor=CLI)
    if as_json:
        print_json(result)
        return
    console.print(
        translate(
            _(
                "restored {entries} entries of {journals} journals into {home}; "
                "counts and chain heads equal the manifest; every journal verifies"
            ),
            entries=result["entries"],
            journals=len(result["journals"]),
            home=result["home"],
        ),
        highlight=False,
    )
    if not result["can_sign"]:
        err_console.print(
            translate(
                _(
                    "the backup held no private keys: put the merchants' key files in "
                    "{path} before recording anything"
                ),
                path=str(load_settings().keys_dir),
            ),
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(backup, name="backup")
    app.command(
        "restore", help="Restore a backup into a fresh store; check it and verify the journals."
    )(guarded(restore))
