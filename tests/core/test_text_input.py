"""The one text-input policy (portal/core/text_input.py) and where files bring text in: the whitelist
and blacklist imports store names clean, and a search finds them."""

from __future__ import annotations

import random
import secrets
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import select

from models.customers import Customer
from models.whitelist import BlacklistEntry
from portal.core.text_input import TextInputError, clean_text, is_clean
from portal.whitelist.sample import id_numbers
from tests.support.workbooks import (
    row,
    run,  # noqa: F401 (fixtures)
)

ZWSP = "\u200b"


# --- the policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,single,multi",
    [
        (f"韩{ZWSP}霞平", "韩霞平", "韩霞平"),
        ("\ufeff张\u00ad三\u2060\u200d\u200c", "张三", "张三"),
        ("\u202e李四\u202c\u2066\u2069\u200e", "李四", "李四"),
        (" ＡＢＣ１２３ ", "ABC123", "ABC123"),
        ("⼈民", "人民", "人民"),  # a Kangxi radical that looks like the ideograph
        ("ｶﾞ", "ガ", "ガ"),
        ("韩\u00a0霞平", "韩 霞平", "韩 霞平"),
        ("a\tb\r\nc\u2028d", "a b c d", "a\tb\nc\nd"),
        ("x\x07y\x00z\x7f\x85", "xyz", "xyz"),
    ],
)
def test_cleaning(raw, single, multi):
    assert clean_text(raw) == single
    assert clean_text(raw, multiline=True) == multi


@pytest.mark.parametrize(
    "kept",
    [
        "贷款用途：购车，装修（首付）！还款？是；否。",  # full-width punctuation
        "①②㈠㊀",  # enclosed numbers
        "120㎡，36.5℃",
        "韩\u3000霞平",  # the ideographic space
        "￥5,000",
    ],
)
def test_chinese_text_keeps_its_form(kept):
    """NFKC would rewrite these (，→, ①→1 ㎡→m2 U+3000→space ￥→¥); the policy keeps them."""
    assert unicodedata.normalize("NFKC", kept) != kept
    assert clean_text(kept) == kept
    assert clean_text("阿卜杜·热合曼") == "阿卜杜·热合曼"


def test_every_invisible_format_character_is_removed():
    """Every format character (Cf) goes, except the prepended concatenation marks, which are
    visible (Arabic number signs, U+0600…)."""
    visible = {0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x6DD, 0x70F, 0x890, 0x891, 0x8E2}
    visible |= {0x110BD, 0x110CD} | set(range(0x13430, 0x13440))
    kept = [
        hex(cp)
        for cp in range(0x110000)
        if unicodedata.category(chr(cp)) == "Cf"
        and cp not in visible
        and clean_text(f"a{chr(cp)}b") != "ab"
    ]
    assert kept == []


def test_machines_get_control_characters_refused():
    with pytest.raises(TextInputError, match=r"姓名含有不可见的控制字符（U\+0007）"):
        clean_text("张\x07三", refuse_controls=True, what="姓名")
    with pytest.raises(TextInputError, match=r"U\+000A"):
        clean_text("张\n三", refuse_controls=True)
    assert clean_text("第一行\r\n第二行", multiline=True, refuse_controls=True) == "第一行\n第二行"
    assert clean_text(f"张{ZWSP}三", refuse_controls=True) == "张三"


@settings(max_examples=400, deadline=None)
@given(st.text(), st.booleans())
def test_cleaning_is_idempotent_and_is_clean_never_lies(text, multiline):
    once = clean_text(text, multiline=multiline)
    assert clean_text(once, multiline=multiline) == once
    if is_clean(text):
        assert clean_text(text) == text


# --- files: the whitelist and blacklist imports ------------------------------------------------


@pytest.mark.usefixtures("products")
@pytest.mark.parametrize("dirty", ["name", "all"])
def test_whitelist_name_with_invisible_characters_is_stored_clean_and_found(
    db, tmp_path, inst_admin_client, dirty
):
    """A name cell `韩\\u200b霞平` is stored `韩霞平` (read in the reading process), and the
    customer list's search for 韩霞平 finds it; other cells' invisible characters and
    full-width digits are cleaned as well."""
    name = "韩霞" + secrets.choice("平安宁静远明") + secrets.choice("甲乙丙丁戊己庚辛")
    number = next(id_numbers(random.Random(secrets.randbits(32))))
    cells = {"id": number, "name": f"{name[0]}{ZWSP}{name[1:]}\ufeff"}
    if dirty == "all":
        cells.update(
            id=f"{ZWSP}{number}",
            mobile="１３８\u20601234５６７８",
            branch=f"I01B01{ZWSP}",
            product="\u2060XFY",
            expiry=f"{row()[7]}{ZWSP}",
        )
    imp, msg = run(db, tmp_path, [row(**cells)])
    assert (imp.status, imp.error_rows, imp.offers_created) == ("committed", 0, 1), msg
    customer = db.session.scalar(select(Customer).where(Customer.id_number == number))
    assert customer.name == name
    if dirty == "all":
        assert customer.mobile == "13812345678"
    for typed in (name, f"{name[:1]}{ZWSP}{name[1:]}"):
        listed = inst_admin_client.get("/customers/list/", query_string={"_flt_3_name": typed})
        assert listed.status_code == 200 and name in listed.get_data(as_text=True), typed


def test_blacklist_import_cells_are_cleaned(db, admin_client, tmp_path):
    number = next(id_numbers(random.Random(secrets.randbits(32))))
    wb = Workbook()
    ws = wb.active
    ws.append(["\ufeff身份证号", f"姓名{ZWSP}", "原因"])
    ws.append([f"{number[:9]}{ZWSP}{number[9:]}", f"韩{ZWSP}霞平\u202e", "  多头借贷\u2060 "])
    path = tmp_path / "blacklist.xlsx"
    wb.save(path)
    with path.open("rb") as fh:
        resp = admin_client.post(
            "/whitelist/blacklist/upload/", data={"file": (fh, "blacklist.xlsx")}
        )
    assert resp.status_code == 302
    entry = db.session.scalar(select(BlacklistEntry).where(BlacklistEntry.id_number == number))
    assert entry is not None and (entry.name, entry.reason) == ("韩霞平", "多头借贷")


def test_the_fast_check_for_chinese_names_is_exact():
    """is_clean's shortcut (CJK unified ideographs, extension A, the middle dot) takes only
    characters the policy leaves alone."""
    ranges = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xB7, 0xB7))
    changed = [
        hex(cp)
        for a, b in ranges
        for cp in range(a, b + 1)
        if not is_clean(chr(cp)) or clean_text(chr(cp)) != chr(cp)
    ]
    assert changed == []
