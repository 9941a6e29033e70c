"""Every list view and REST API of the portal, found at collection time, for generated tests.

The classes are found by scanning the ``views`` package (every ModelView / ModelRestApi
subclass defined there, Flask-AppBuilder's security views included via views.access.fab_security_views
and views.access.staff); ``test_every_registered_list_view_is_enumerated`` checks at run time
that this is exactly the set registered in ``appbuilder.baseviews``, so a view added
later is covered without editing a test.

Masked columns are found without trusting the code under test: a column ``X`` is masked
when its model has an ``X_masked`` property (how a value is shown masked) or declares it
in ``__masked__``; the same columns reached through a many-to-one relationship count too
(``customer.id_number`` on applications).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache

from flask_appbuilder import ModelView
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.models.sqla.filters import SQLAFilterConverter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import inspect

from tests.support.clients import ROLE_USERS, login

# shown masked on other records' pages, but in clear on the customer list itself (staff
# find customers by name): not a masked column of any list
NOT_MASKED = {("Customer", "name")}
DENIED = {301, 302, 303, 401, 403}


@cache
def view_classes() -> tuple[type, ...]:
    import views
    from views.base import ScopedModelRestApi, ScopedModelView

    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(views.__path__, "views."):  # views/<domain>/ too
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, (ModelView, ModelRestApi))
                and obj.__module__ == module.__name__
                and not obj.__name__.startswith("_")
                and obj not in (ScopedModelView, ScopedModelRestApi)
            ):
                found[obj.__name__] = obj
    return tuple(found[name] for name in sorted(found))


def is_api(cls: type) -> bool:
    return issubclass(cls, ModelRestApi)


def model_of(cls: type):
    datamodel = getattr(cls, "datamodel", None)
    return getattr(datamodel, "obj", None)


def masked_columns_of(model) -> list[str]:
    """Columns of `model` shown masked: an ``X_masked`` property, or declared in __masked__."""
    columns = set(getattr(model, "__masked__", {}) or {})
    for attr in inspect(model).column_attrs:
        if isinstance(getattr(model, attr.key + "_masked", None), property):
            columns.add(attr.key)
    return sorted(c for c in columns if (model.__name__, c) not in NOT_MASKED)


def masked_paths(cls: type) -> list[str]:
    """The view's masked columns, direct and through many-to-one relationships."""
    model = model_of(cls)
    if model is None:
        return []
    paths = list(masked_columns_of(model))
    for rel in inspect(model).relationships:
        if rel.direction.name == "MANYTOONE":
            paths += [f"{rel.key}.{c}" for c in masked_columns_of(rel.mapper.class_)]
    return paths


def search_columns_of(cls: type) -> list[str]:
    """Search columns as Flask-AppBuilder computes them (declared, else every searchable)."""
    declared = cls.search_columns
    if declared:
        return list(declared)
    return [c for c in cls.datamodel.get_search_columns_list()]


def filter_ops(model, column: str) -> list[str]:
    """Flask-AppBuilder's filter operations for a column (arg names, in its index order)."""
    if "." in column:
        rel, column = column.split(".", 1)
        model = inspect(model).relationships[rel].mapper.class_
    filters = SQLAFilterConverter(SQLAInterface(model)).convert(column) or []
    return [f.arg_name for f in filters]


def offered(cls: type, column: str) -> bool:
    return "." not in column and column in search_columns_of(cls)


def list_url(view) -> str:
    if isinstance(view, ModelRestApi):
        return f"/api/v1/{view.resource_name}/"
    return view.route_base + "/list/"


def registered(app, name: str):
    for view in app.appbuilder.baseviews:
        if type(view).__name__ == name:
            return view
    raise AssertionError(f"{name} is not registered in appbuilder.baseviews")


def registered_list_views(app) -> list:
    return [v for v in app.appbuilder.baseviews if isinstance(v, (ModelView, ModelRestApi))]


def row_ids(view, resp) -> list[str]:
    """The record ids a list response shows, in order (show links, or the API's ids)."""
    if isinstance(view, ModelRestApi):
        return [str(i) for i in resp.get_json()["ids"]]
    body = resp.get_data(as_text=True)
    ids = re.findall(re.escape(view.route_base) + r"/show/([^\"?/&]+)", body)
    return list(dict.fromkeys(ids))


class Clients:
    """One logged-in client per role for a module (logging in hashes a password: slow)."""

    def __init__(self, app):
        self.app, self.clients = app, {}

    def __call__(self, role: str):
        if role not in self.clients:
            self.clients[role] = login(self.app, ROLE_USERS[role])
        return self.clients[role]

    def get(self, role: str, url: str):
        """GET as `role`; logs in again if the session was ended meanwhile."""
        resp = self(role).get(url)
        if resp.status_code in (301, 302, 303) and "/login" in resp.headers.get("Location", ""):
            self.clients[role] = login(self.app, ROLE_USERS[role])
            resp = self.clients[role].get(url)
        return resp
