"""Converge the roles in the database to portal.access.permissions.ROLES (start-up and `portal roles`)."""

from __future__ import annotations

import logging

from portal.access.permissions import ROLES

log = logging.getLogger(__name__)


def ensure_roles_exist(session) -> None:
    """Create every declared role (without permissions) before Flask-AppBuilder registers views.

    FAB grants each newly registered permission to the admin role as it goes, and fails
    half-way when that role does not exist yet (a fresh, just-migrated database).
    """
    from flask_appbuilder.security.sqla.models import Role

    have = {name for (name,) in session.query(Role.name).all()}
    for name in ROLES:
        if name not in have:
            session.add(Role(name=name))
    session.commit()


def _menu_grants(sm) -> list[tuple[str, set[str]]]:
    """(resource, menu names) per menu entry: reading a view's resource grants its menu entries."""
    out = []
    for top in sm.appbuilder.menu.get_list():
        entries = [(top, None)] if top.baseview is not None else [(c, top) for c in top.childs]
        for item, category in entries:
            view = item.baseview
            if view is None or not item.name:
                continue
            names = {item.name} | ({category.name} if category is not None else set())
            out.append((view.class_permission_name, names))
    return out


def converge_roles(sm) -> dict[str, int]:
    """Create missing roles and set each role's permissions to exactly what ROLES declares.

    Menu visibility is derived, not declared: a role that may read (list) a view's
    resource also gets `menu_access` on that view's menu entry and category.
    """
    session = sm.session
    for _resource, names in _menu_grants(sm):
        for menu_name in names:
            sm.add_permissions_menu(menu_name)
    all_pvms = session.query(sm.permissionview_model).all()
    index = {(pv.permission.name, pv.view_menu.name): pv for pv in all_pvms}
    menus = _menu_grants(sm)
    result: dict[str, int] = {}
    for name, spec in ROLES.items():
        role = sm.find_role(name) or sm.add_role(name)
        if spec.get("all_permissions"):
            wanted = list(all_pvms)
        else:
            wanted = []
            for perm, view in spec["permissions"]:
                pv = index.get((perm, view))
                if pv is None:
                    log.debug(
                        "role %s: permission %s on %s not registered; skipped", name, perm, view
                    )
                    continue
                wanted.append(pv)
            resources = {v for perm, v in spec["permissions"] if perm in ("can_read", "can_list")}
            for resource, names in menus:
                if resource in resources:
                    wanted.extend(index[("menu_access", n)] for n in names)
            wanted = list({pv.id: pv for pv in wanted}.values())
        if {p.id for p in role.permissions} != {p.id for p in wanted}:
            role.permissions = wanted
        result[name] = len(wanted)
    session.commit()
    return result
