"""Every user-visible message is in the catalogue, in English and Simplified Chinese.

The messages are extracted afresh from the source and the console's templates, so a
new ``_()`` without its translation fails here: the catalogue cannot drift behind the code.
"""

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from counterfoil.i18n import translate

SRC = Path(__file__).resolve().parents[1] / "src" / "counterfoil"
PO = SRC / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"\{(\w+)(?:![rs])?\}")


def source_messages() -> set[str]:
    return {
        str(message)
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(SRC),
            method_map=[
                ("**.py", "python"),
                ("**/templates/**.html", "jinja2.ext:babel_extract"),
            ],
            keywords={"_": None},
        )
    }


def catalogue() -> dict[str, tuple[str, bool]]:
    with PO.open("rb") as handle:
        return {str(m.id): (str(m.string), bool(m.fuzzy)) for m in read_po(handle) if m.id}


def test_every_message_in_the_source_has_a_chinese_translation() -> None:
    known = catalogue()
    missing = sorted(m for m in source_messages() if not known.get(m, ("", False))[0])
    assert not missing, (
        f"{len(missing)} messages need zh_CN translations (make translations): {missing[:10]}"
    )


def test_translations_keep_their_placeholders_and_none_is_fuzzy() -> None:
    for message, (text, fuzzy) in catalogue().items():
        assert not fuzzy, message
        if text:
            assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(message)), (
                message
            )


def test_a_message_renders_in_either_language() -> None:
    message = "merchant {merchant_no} is not known"
    assert translate(message, "en", merchant_no="102310048993424") == (
        "merchant 102310048993424 is not known"
    )
    chinese = translate(message, "zh_CN", merchant_no="102310048993424")
    assert "102310048993424" in chinese
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese)
