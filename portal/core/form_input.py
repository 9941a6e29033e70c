"""Every form and request parameter of the staff portal, cleaned and checked in one place.

``install(app)`` (called by ``create_app``) sets up two things, for every view — the portal's
own, Flask-AppBuilder's security views and the user form included — without any view opting in:

* **text normalisation** (portal/core/text_input.py): a request hook cleans every query-string and
  form value (not passwords) before any view, form or list filter reads it, so what is stored,
  what is searched (``_flt_…`` list filters, the REST API's ``q``, whose filter values
  views/base.py cleans one by one) and the free-text reasons the
  custom views read from ``request.form`` are all in one form; and every WTForms text field
  (the base ``DynamicForm`` of all Flask-AppBuilder forms gets :class:`PortalFormMeta`) cleans
  its value once more with its own rule — a single-line field turns tabs and line breaks into
  a space and is stripped — which also covers a form filled from a JSON body;
* **related-row choices that refuse what they do not offer**: Flask-AppBuilder's
  ``QuerySelectMultipleField`` silently drops a posted id that is not among its allowed
  choices (``query_rel_fields``), so an institution admin who posts the HQ admin role's id got
  a user with no role and "记录已新增". Every relation field of every form is replaced by a
  strict one that turns an id outside its choices into a Chinese field error: nothing is
  saved and the form keeps its input. A view names the refused rows where that discloses
  nothing, with :class:`NameRefused` in its ``validators_columns`` (the user form names the
  roles an admin may not grant).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, request
from flask_appbuilder.fields import QuerySelectField, QuerySelectMultipleField
from flask_wtf import FlaskForm
from werkzeug.datastructures import ImmutableMultiDict
from wtforms.fields import HiddenField, PasswordField, StringField, TextAreaField
from wtforms.fields.core import UnboundField
from wtforms.validators import StopValidation

from portal.core.text_input import clean_text

UNCLEANED_PREFIXES = ("/api/channel/", "/static/")  # the channel API applies the policy itself
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_BLANK = ("", "__None")


def _never_cleaned(key: str) -> bool:
    """Passwords are compared byte for byte with what was set: never rewritten."""
    return "password" in key.lower()


def _cleaned(values: ImmutableMultiDict) -> ImmutableMultiDict:
    pairs = [
        (k, v if _never_cleaned(k) or not isinstance(v, str) else clean_text(v, multiline=True))
        for k, v in values.items(multi=True)
    ]
    return ImmutableMultiDict(pairs)


def clean_request() -> None:
    """Before any view: the request's query string and form values, cleaned (lenient: what a
    person sent loses its invisible and control characters; tabs and line breaks stay — the
    form field decides whether its value may have them)."""
    if request.path.startswith(UNCLEANED_PREFIXES):
        return
    if request.args:
        request.args = _cleaned(request.args)
    if request.mimetype in _FORM_TYPES and request.form:
        request.form = _cleaned(request.form)
    request.__dict__.pop("values", None)  # recombined from the cleaned two when read


def _text_filter(multiline: bool) -> Callable:
    def clean(value):
        return clean_text(value, multiline=multiline) if isinstance(value, str) else value

    return clean


_SINGLE_LINE, _MULTI_LINE = _text_filter(False), _text_filter(True)


class NameRefused:
    """Put in a relation column's ``validators_columns`` to word the refusal of posted ids that
    are not among the field's choices: ``NameRefused(lambda ids: "无权授予角色：…")``."""

    def __init__(self, message: Callable[[list[str]], str]) -> None:
        self.message = message

    def __call__(self, form, field) -> None:  # the strict field's pre_validate does the work
        return None


class _StrictChoices:
    """The check shared by the strict single and multiple selects."""

    def _refuse(self, ids: list[str]) -> StopValidation:
        namer = next((v for v in self.validators if isinstance(v, NameRefused)), None)
        if namer is not None and ids:
            return StopValidation(namer.message(ids))
        return StopValidation(f"所选的{self.label.text}不存在或不在您可选的范围内")

    def _allowed(self) -> list:
        return self._get_object_list()

    def _refused_ids(self) -> list[str]:
        allowed = {pk for pk, _obj in self._allowed()}
        return [v for v in (self.raw_data or []) if v not in _BLANK and v not in allowed]


class StrictQuerySelectField(_StrictChoices, QuerySelectField):
    """A related row (many-to-one): a posted id outside the choices is a field error."""

    def pre_validate(self, form) -> None:
        refused = self._refused_ids()
        if refused:
            raise self._refuse(refused)
        data = self.data
        if data is None:
            if not self.allow_blank:
                raise StopValidation(f"请选择{self.label.text}")
            return
        # set by the view rather than posted (a related list's filter): checked the same way
        if all(obj != data for _pk, obj in self._allowed()):
            raise self._refuse([])


class StrictQuerySelectMultipleField(_StrictChoices, QuerySelectMultipleField):
    """Related rows (many-to-many): any posted id outside the choices refuses the whole form
    (Flask-AppBuilder's field drops it and saves the rest)."""

    def pre_validate(self, form) -> None:
        refused = self._refused_ids()
        if refused:
            raise self._refuse(refused)
        data = self.data
        if data and not isinstance(data, list):
            data = self.data = [data]
        allowed = [obj for _pk, obj in self._allowed()]
        if self._invalid_formdata or any(obj not in allowed for obj in data or []):
            raise self._refuse([])


_STRICT = {
    QuerySelectField: StrictQuerySelectField,
    QuerySelectMultipleField: StrictQuerySelectMultipleField,
}


class PortalFormMeta(FlaskForm.Meta):
    """WTForms' per-form hook: each field as it is bound to a form instance."""

    def bind_field(self, form, unbound_field, options):
        cls = unbound_field.field_class
        if cls in _STRICT:
            unbound_field = UnboundField(_STRICT[cls], *unbound_field.args, **unbound_field.kwargs)
        elif issubclass(cls, StringField) and not issubclass(cls, (PasswordField, HiddenField)):
            text = _MULTI_LINE if issubclass(cls, TextAreaField) else _SINGLE_LINE
            if len(unbound_field.args) < 3:  # (label, validators, filters, …)
                filters = [*unbound_field.kwargs.get("filters", ()), text]
                options = {**options, "filters": filters}
        return super().bind_field(form, unbound_field, options)


def install(app: Flask) -> None:
    """The request hook on this app; the form hook on every Flask-AppBuilder form class."""
    from flask_appbuilder.forms import DynamicForm

    if DynamicForm.__dict__.get("Meta") is not PortalFormMeta:
        DynamicForm.Meta = PortalFormMeta
    app.before_request_funcs.setdefault(None, []).insert(0, clean_request)
