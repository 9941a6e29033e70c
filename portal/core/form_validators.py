"""WTForms validators wrapping the identity rules, so forms show the same Chinese messages."""

from __future__ import annotations

from wtforms.validators import StopValidation, ValidationError

from portal.core.identity import IdentityError, normalize_mobile, parse_resident_id


class ResidentIdValidator:
    def __call__(self, form, field) -> None:
        if not field.data:
            raise StopValidation("身份证号不能为空")
        try:
            field.data = parse_resident_id(field.data).number
        except IdentityError as exc:
            raise ValidationError(str(exc)) from exc


class MobileValidator:
    def __init__(self, required: bool = True) -> None:
        self.required = required

    def __call__(self, form, field) -> None:
        if not field.data:
            if self.required:
                raise StopValidation("手机号不能为空")
            return
        try:
            field.data = normalize_mobile(field.data)
        except IdentityError as exc:
            raise ValidationError(str(exc)) from exc
