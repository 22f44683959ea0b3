"""XML read safely and as a stream, and XML files taken out of zip bundles.

Bank statements come from outside, so the parser is lxml with external entities, DTD
loading and the network all off, and any file with a DOCTYPE — where entity tricks
(XXE, "billion laughs") live — is refused outright before its first element is used.
Elements are handed out as the parse goes (``iterparse``); the caller clears what it
has used, so memory follows one entry, not the file.

Zip bundles are opened member by member, refusing members that would unpack to more
than ``MAX_MEMBER_BYTES`` or that compress suspiciously well (a zip bomb).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import IO, Any, Final, TypeAlias

from lxml import etree  # type: ignore[import-untyped]  # no lxml-stubs among the dependencies

from counterfoil.i18n import _
from counterfoil.importers.errors import FormatMismatch, RefusedFile

MAX_MEMBER_BYTES: Final = 2 * 1024**3
MAX_RATIO: Final = 200

Element: TypeAlias = Any  # lxml.etree._Element; lxml is kept behind this module


def to_text(element: Element) -> str:
    """The element as XML text (for a line's ``raw``)."""
    return str(etree.tostring(element, encoding="unicode"))


def local(element: Element) -> str:
    """The tag without its namespace: camt versions differ only in the namespace."""
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def child(element: Element | None, *path: str) -> Element | None:
    """The first descendant along ``path`` (local names), or None."""
    for name in path:
        if element is None:
            return None
        element = next((c for c in element if local(c) == name), None)
    return element


def children(element: Element | None, name: str) -> list[Element]:
    return [] if element is None else [c for c in element if local(c) == name]


def text(element: Element | None, *path: str) -> str | None:
    found = child(element, *path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def iterparse(stream: IO[bytes], *, file: str, expected: str) -> Iterator[tuple[str, Element]]:
    """("start" | "end", element) as the document is read; refuses any DOCTYPE."""
    context = etree.iterparse(
        stream,
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    checked = False
    try:
        for event, element in context:
            if not checked:
                checked = True
                docinfo = element.getroottree().docinfo
                if docinfo.doctype or docinfo.internalDTD is not None:
                    raise RefusedFile(
                        file, _("{file}: XML with a DOCTYPE (entity declarations) is refused")
                    )
            yield event, element
    except etree.XMLSyntaxError as exc:
        raise FormatMismatch(
            file,
            expected,
            _("{file}: not well-formed XML at line {line}: {problem}"),
            line=exc.lineno or 0,
            problem=str(exc.msg)[:200],
        ) from None


def zip_members(stream: IO[bytes], *, file: str) -> Iterator[tuple[str, IO[bytes]]]:
    """(name, stream) of each file in a zip, in name order; each closed after its turn."""
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormatMismatch(
            file, "zip", _("{file}: not a readable zip ({problem})"), problem=str(exc)[:200]
        ) from None
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > MAX_MEMBER_BYTES or ratio > MAX_RATIO:
                raise RefusedFile(
                    file,
                    _("{file}: the member {member} would unpack to {size} bytes: refused"),
                    member=info.filename,
                    size=info.file_size,
                )
            try:
                member = archive.open(info)
            # NotImplementedError: a compression method zipfile cannot read; RuntimeError:
            # an encrypted member. Either is refused with a message, not a crash.
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
                raise FormatMismatch(
                    file,
                    "zip",
                    _("{file}: cannot open {member} ({problem})"),
                    member=info.filename,
                    problem=str(exc)[:200],
                ) from None
            with member:
                yield info.filename, member
