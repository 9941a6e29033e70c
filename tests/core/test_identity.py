"""ID numbers and mobiles: validated with python-stdnum / phonenumbers, Excel traps named."""

import datetime as dt

import pytest

from portal.core.identity import IdentityError, normalize_mobile, parse_resident_id
from portal.core.masking import mask_id_number, mask_mobile, mask_name


def test_valid_id_derives_birth_date_and_gender():
    rid = parse_resident_id("11010519491231002x")  # lowercase x accepted and normalised
    assert rid.number == "11010519491231002X"
    assert rid.birth_date == dt.date(1949, 12, 31)
    assert rid.gender == "F"  # 17th digit 2 is even


def test_area_code_created_after_the_birth_year_is_accepted():
    """440103 荔湾区 dates from 1983; people born before it hold such numbers."""
    from stdnum.cn import ric

    body = "44010319600101123"
    number = body + ric.calc_check_digit(body + "0")
    assert parse_resident_id(number).birth_date.year == 1960
    body = "99010119600101123"  # no province 99
    with pytest.raises(IdentityError, match="地区码不存在"):
        parse_resident_id(body + ric.calc_check_digit(body + "0"))


def test_full_width_digits_and_spaces_are_normalised():
    assert parse_resident_id("１１０１０５ １９４９１２３１００２Ｘ").number == "11010519491231002X"


@pytest.mark.parametrize(
    "raw, message",
    [
        ("11010519491231002Y", "只能包含数字"),
        ("110105194912310021", "校验位"),
        ("110105194913310023", "出生日期"),
        ("1101051949123100", "应为 18 位"),
        ("110105491231002", "15 位"),
        (110105194912310020, "存成了数字"),
        (1.10105194912310e17, "存成了数字"),
        ("", "不能为空"),
    ],
)
def test_bad_ids_get_a_clear_chinese_reason(raw, message):
    with pytest.raises(IdentityError) as exc:
        parse_resident_id(raw)
    assert message in str(exc.value)


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "+86 138 0013 8000",
        "0086-138-0013-8000",
        "１３８００１３８０００",
        13800138000.0,
    ],
)
def test_mobile_forms_normalise_to_11_digits(raw):
    assert normalize_mobile(raw) == "13800138000"


@pytest.mark.parametrize(
    "raw", ["12345678901", "1380013800", "+1 415 555 0100", "020-83331234", "abc"]
)
def test_bad_mobiles_are_refused(raw):
    with pytest.raises(IdentityError):
        normalize_mobile(raw)


def test_masks_match_the_documented_shape():
    assert mask_id_number("44010119900101123X") == "4401**********123X"
    assert mask_mobile("13812345678") == "138****5678"
    assert mask_name("张三丰") == "张*丰"
    assert mask_id_number(None) == ""
