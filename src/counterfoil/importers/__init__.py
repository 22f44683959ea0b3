"""Statement importers: the bytes of a statement file → statement lines, streamed.

One module per format, each with ``parse(stream, *, file, …) -> ParseResult``:

===================  =========================================================
``unionpay_zm``      UnionPay ZM reconciliation file (+ RD summary), zip or bare
``wechat_trade``     WeChat Pay trade bill: ALL / SUCCESS / REFUND, old and new
``wechat_fund``      WeChat Pay fund-flow bill (资金账单)
``alipay_trade``     Alipay trade bill (业务明细)
``alipay_account``   Alipay account statement (账务明细)
``camt``             ISO 20022 camt.053 / camt.054, .02–.08, zipped bundles
``swift_mt940``      SWIFT MT940 (through the mt-940 library)
``tabular``          any CSV / XLSX export, through a TOML ``profile``
===================  =========================================================

``detect.open_statement(path)`` / ``detect.parse_statement(stream, file=…)`` recognise
the format (``format=`` overrides) and return a ``ParseResult``: iterate it for
``StatementLine`` values (or ``records()`` for lines and ``LineError`` values in file
order); ``errors``, ``checks`` (``ControlCheck``) and ``info`` are complete when the
iteration ends. Files that cannot be read at all raise a ``StatementFileError``.
"""

from counterfoil.importers.detect import FORMATS, open_statement, parse_statement
from counterfoil.importers.errors import (
    FormatMismatch,
    ProfileError,
    RefusedFile,
    StatementFileError,
    UndecodableFile,
)
from counterfoil.importers.lines import (
    STATUSES,
    TXN_TYPES,
    ControlCheck,
    LineError,
    StatementLine,
)
from counterfoil.importers.profile import Profile, load_profile, shipped_profiles
from counterfoil.importers.result import Info, ParsedFile, ParseResult

__all__ = [
    "FORMATS",
    "STATUSES",
    "TXN_TYPES",
    "ControlCheck",
    "FormatMismatch",
    "Info",
    "LineError",
    "ParseResult",
    "ParsedFile",
    "Profile",
    "ProfileError",
    "RefusedFile",
    "StatementFileError",
    "StatementLine",
    "UndecodableFile",
    "load_profile",
    "open_statement",
    "parse_statement",
    "shipped_profiles",
]
