"""Password policy (密码策略): enforced on every password set through the portal."""

from __future__ import annotations

import re

from flask_appbuilder.exceptions import PasswordComplexityValidationError

MIN_LENGTH = 8
_CLASSES = [
    (re.compile(r"[a-z]"), "小写字母"),
    (re.compile(r"[A-Z]"), "大写字母"),
    (re.compile(r"[0-9]"), "数字"),
    (re.compile(r"[^A-Za-z0-9]"), "特殊字符"),
]


def password_problems(password: str) -> list[str]:
    """Return the Chinese reasons a password is not acceptable (empty list: acceptable)."""
    problems = []
    if len(password or "") < MIN_LENGTH:
        problems.append(f"长度至少 {MIN_LENGTH} 位")
    missing = [label for rx, label in _CLASSES if not rx.search(password or "")]
    if len(missing) > 1:
        problems.append("须同时包含大写字母、小写字母、数字、特殊字符中的至少三类")
    if password and re.search(r"(.)\1\1\1", password):
        problems.append("不能包含 4 个及以上连续相同字符")
    return problems


def validate_password(password: str) -> None:
    """Flask-AppBuilder FAB_PASSWORD_COMPLEXITY_VALIDATOR hook."""
    problems = password_problems(password)
    if problems:
        raise PasswordComplexityValidationError("密码不符合要求：" + "；".join(problems))
