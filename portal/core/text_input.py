"""One normalisation policy for every text a person, a file or a channel supplies.

``clean_text`` is applied to form fields, list searches and other request parameters
(portal/core/form_input.py), to the cells of imported workbooks (whitelist, blacklist) and to the
channel API's text fields (portal/channel/request_bodies.py), so a value is stored, searched and
compared in one form. The policy (docs/security.md "Text input normalisation"):

* **invisible characters are removed**: every Unicode *Default_Ignorable_Code_Point* —
  zero-width space/joiners (U+200B–U+200D), word joiner (U+2060), BOM (U+FEFF), soft hyphen
  (U+00AD), the bidi controls (U+200E/F, U+202A–U+202E, U+2066–U+2069), variation selectors,
  Hangul fillers, tag characters, interlinear annotation controls. They render as nothing, so nobody can see or search them;
* **control characters** (Cc, and lone surrogates) other than tab and line break: removed from
  what people type or files carry (they cannot see them to fix them), **refused** where a
  machine sends them (``refuse_controls=True``: the channel API answers 400);
* **line breaks** (CR LF, CR, NEL, U+2028/9) become ``\\n``; a single-line value turns tabs and
  line breaks into a space (``refuse_controls``: refuses them);
* **compatibility forms are folded where that keeps the meaning** (NFKC, selectively): full-width
  and other compatibility forms of letters and digits (``ＡＢＣ１２３`` → ``ABC123``), half-width
  katakana, CJK compatibility ideographs and Kangxi radicals (``⼈`` → ``人``); non-ASCII spaces
  other than the ideographic space (U+3000) become a space. NFKC is *not* applied wholesale:
  it would rewrite Chinese text — full-width punctuation ``，：；（）！？`` → ASCII, ``①`` → ``1``,
  ``㎡`` → ``m2``, ``℃`` → ``°C``, U+3000 → space — so those keep their form. Everything ends in
  NFC. ID numbers and mobiles additionally go through their own full NFKC (portal/core/identity.py);
* surrounding whitespace is stripped.

It is idempotent: ``clean_text(clean_text(s)) == clean_text(s)``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Default_Ignorable_Code_Point (Unicode 15.1, DerivedCoreProperties.txt) and U+FFF9–U+FFFB:
# every format character (Cf) except the visible prepended concatenation marks (U+0600…)
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0xFFF9, 0xFFFB),  # interlinear annotation controls: format (Cf), invisible as well
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def _char_class(ranges) -> str:
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )


_INVISIBLE = re.compile(f"[{_char_class(_IGNORABLE_RANGES)}]+")
# Cc other than \t \n \r and NEL (line breaks, handled below), and lone surrogates
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff]")
_BREAKS = re.compile("\r\n|[\r\x85\u2028\u2029]")
_TAB_OR_BREAK = re.compile("[\t\n]+")
# what needs no work: printable ASCII (and \t \n for multi-line text)
_PLAIN_LINE = re.compile(r"[\x20-\x7e]*")
_PLAIN_TEXT = re.compile(r"[\x20-\x7e\t\n]*")
# Chinese names as they usually are: CJK unified ideographs (and extension A) and the middle dot
# of transliterated names — none has a decomposition, none is invisible
_PLAIN_NAME = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\u00b7]+")
# Kangxi radicals and the CJK radicals supplement: symbols that look like ideographs
_RADICALS = (0x2E80, 0x2FDF)
_FOLDED_KINDS = ("Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Mn", "Mc")
IDEOGRAPHIC_SPACE = "\u3000"


class TextInputError(ValueError):
    """Text refused by the policy (a control character from a machine); Chinese message."""


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """The character a compatibility form stands for, when that keeps the meaning."""
    kind = unicodedata.category(ch)
    if kind == "Zs":
        return ch if ch == IDEOGRAPHIC_SPACE else " "
    folded = unicodedata.normalize("NFKC", ch)
    if folded == ch or len(folded) != 1:
        return ch
    if kind in _FOLDED_KINDS or _RADICALS[0] <= ord(ch) <= _RADICALS[1]:
        if unicodedata.category(folded) in _FOLDED_KINDS:
            return folded
    return ch


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    if unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFC", "".join(map(_fold_char, text)))


def _refuse(ch: str, what: str) -> TextInputError:
    return TextInputError(f"{what}含有不可见的控制字符（U+{ord(ch):04X}），请删除后重试")


def clean_text(
    value: str, *, multiline: bool = False, refuse_controls: bool = False, what: str = ""
) -> str:
    """The value as the portal stores and compares it (see the module's policy).

    ``multiline``: tabs and line breaks are kept (as ``\\t`` / ``\\n``); otherwise each run of
    them becomes one space. ``refuse_controls``: a control character — and, single-line, a tab
    or line break — raises :class:`TextInputError` (its message names ``what``) instead of
    being removed.
    """
    if (_PLAIN_TEXT if multiline else _PLAIN_LINE).fullmatch(value):
        return value.strip()
    text = _BREAKS.sub("\n", value)
    bad = _CONTROL.search(text)
    if bad:
        if refuse_controls:
            raise _refuse(bad.group(), what)
        text = _CONTROL.sub("", text)
    if not multiline:
        bad = _TAB_OR_BREAK.search(text)
        if bad and refuse_controls:
            raise _refuse(bad.group()[0], what)
        if bad:
            text = _TAB_OR_BREAK.sub(" ", text)
    if not text.isascii():
        text = _fold(_INVISIBLE.sub("", text))
    return text.strip()


def is_clean(value: str) -> bool:
    """A cheap test for hot paths (an import's million names): True only when
    ``clean_text(value)`` (single-line) returns ``value`` unchanged. False may be a false
    alarm (text with full-width punctuation, which cleaning keeps): then clean it."""
    if _PLAIN_NAME.fullmatch(value):
        return True
    if _PLAIN_LINE.fullmatch(value):
        return value == value.strip()
    return (
        value == value.strip()
        and not _CONTROL.search(value)
        and not _TAB_OR_BREAK.search(value)
        and not _INVISIBLE.search(value)
        and not _BREAKS.search(value)
        and unicodedata.is_normalized("NFKC", value)
    )
