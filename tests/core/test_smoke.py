"""The app boots on a migrated database and each role reaches its home page in Chinese."""

import pytest

from tests.support.clients import ROLE_USERS


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_every_role_gets_a_chinese_home(client_for, role):
    resp = client_for(role).get("/")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "您好" in body and "数据范围" in body


def test_anonymous_is_sent_to_login(anon_client):
    resp = anon_client.get("/")
    assert resp.status_code == 302
    assert "/login/" in resp.headers["Location"]


@pytest.mark.parametrize(
    "role, visible, hidden",
    [
        ("account_manager", ["我的工作台", "客户列表"], ["机构网点", "审计日志", "用户列表"]),
        ("auditor", ["审计日志"], ["客户列表", "我的工作台", "机构网点"]),
        ("institution_admin", ["机构网点", "客户列表"], ["审计日志", "我的工作台"]),
        ("hq_admin", ["机构网点", "客户列表", "审计日志"], []),
    ],
)
def test_menu_shows_what_the_role_may_open(client_for, role, visible, hidden):
    body = client_for(role).get("/").get_data(as_text=True)
    nav = body.split("</nav>")[0]
    for label in visible:
        assert label in nav, label
    for label in hidden:
        assert label not in nav, label


def test_scope_is_per_user_even_when_requests_share_an_app_context(db, client_for):
    """Test clients inside one pushed app context share `g`; the scope cache must not leak."""
    import re

    counts = {}
    for role in ("account_manager", "hq_admin", "account_manager"):
        body = client_for(role).get("/").get_data(as_text=True)
        counts.setdefault(role, set()).add(re.search(r'id="fig-customers">(\d+)<', body).group(1))
    assert len(counts["account_manager"]) == 1
    assert counts["account_manager"] != counts["hq_admin"]
