"""Unbound extensions, bound to an app inside create_app()."""

from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

db = SQLA()
migrate = Migrate()
# every POST — FAB forms and the portal's own routes (export, unmask, bulk actions) — needs a token
csrf = CSRFProtect()
