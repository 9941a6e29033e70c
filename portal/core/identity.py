"""Resident ID numbers (GB 11643) and mobile numbers: normalise, validate, derive."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from stdnum import exceptions as stdnum_exc
from stdnum.cn import ric


class IdentityError(ValueError):
    """A value failed validation; the message is Chinese and safe to show to staff."""


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: dt.date
    gender: str  # "M" / "F"


def _halfwidth(value: str) -> str:
    """Full-width digits/letters to half-width, all whitespace removed."""
    return "".join(unicodedata.normalize("NFKC", value).split())


@lru_cache(maxsize=64)
def _province_known(prefix: str) -> bool:
    from stdnum import numdb

    return any("province" in props for _part, props in numdb.get("cn/loc").info(prefix + "0000"))


def parse_resident_id(raw: object) -> ResidentId:
    """Validate an 18-digit resident ID number (checksum, birth date) and derive birth date/gender."""
    if raw is None or str(raw).strip() == "":
        raise IdentityError("身份证号不能为空")
    if isinstance(raw, (int, float)):
        raise IdentityError(
            "身份证号被存成了数字（Excel 只保留 15 位有效数字，原值已丢失），请将该列设为文本后重新填写"
        )
    value = _halfwidth(str(raw)).upper()
    if len(value) == 15:
        raise IdentityError("不支持 15 位旧身份证号，请填写 18 位身份证号")
    if len(value) != 18:
        raise IdentityError(f"身份证号应为 18 位，实际为 {len(value)} 位")
    if not (value[:17].isdigit() and (value[17].isdigit() or value[17] == "X")):
        raise IdentityError("身份证号只能包含数字，最后一位可为 X")
    try:
        dt.datetime.strptime(value[6:14], "%Y%m%d")
    except ValueError as exc:
        raise IdentityError("身份证号中的出生日期无效") from exc
    try:
        ric.validate(value)
    except stdnum_exc.InvalidChecksum as exc:
        raise IdentityError("身份证号校验位错误") from exc
    except stdnum_exc.InvalidComponent as exc:
        # python-stdnum also requires the county code to have existed in the birth year; real
        # numbers issued in the 1980s carry codes created after their holders were born
        # (e.g. 440103 荔湾区 since 1983), so only an unknown province is refused here.
        if not _province_known(value[:2]):
            raise IdentityError("身份证号中的地区码不存在") from exc
    except stdnum_exc.ValidationError as exc:
        raise IdentityError("身份证号格式错误") from exc
    birth = ric.get_birth_date(value)
    if birth > dt.date.today():
        raise IdentityError("身份证号中的出生日期晚于今天")
    gender = "M" if int(value[16]) % 2 == 1 else "F"
    return ResidentId(number=value, birth_date=birth, gender=gender)


def normalize_mobile(raw: object) -> str:
    """Return an 11-digit mainland mobile number; accepts +86, 0086, spaces, dashes, full-width."""
    if raw is None or str(raw).strip() == "":
        raise IdentityError("手机号不能为空")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    value = _halfwidth(str(raw)).replace("-", "").replace("(", "").replace(")", "")
    if value.startswith("0086"):
        value = "+86" + value[4:]
    try:
        parsed = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException as exc:
        raise IdentityError("手机号格式错误") from exc
    national = str(parsed.national_number)
    if parsed.country_code != 86 or len(national) != 11 or not national.startswith("1"):
        raise IdentityError("请填写 11 位中国大陆手机号")
    if not phonenumbers.is_valid_number(parsed) or phonenumbers.number_type(parsed) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise IdentityError("手机号无效（号段不存在）")
    return national
