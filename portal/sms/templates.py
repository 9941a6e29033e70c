"""SMS template language: sandboxed Jinja, only known variables, checked when saved."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Variables a template may use, with a sample value used to test-render on save.
VARIABLES: dict[str, tuple[str, str]] = {
    "customer_name": ("客户姓名", "张三"),
    "product": ("产品名称", "消费易"),
    "limit": ("额度（元）", "50,000"),
    "rate": ("年利率", "4.35%"),
    "expiry_date": ("有效期", "2026-12-31"),
    "amount": ("金额（元）", "20,000"),
    "branch_name": ("网点名称", "城关支行"),
    "branch_phone": ("网点电话", "0931-1234567"),
    "reason": ("原因", "资料不全"),
    "staff_name": ("客户经理", "李四"),
}
MAX_LENGTH = 300
OPT_OUT_HINT = "退订"

_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def declared(variables: str | None) -> set[str]:
    return {v.strip() for v in (variables or "").replace("，", ",").split(",") if v.strip()}


def problems(body: str, variables: str | None, category: str) -> list[str]:
    """Everything wrong with a template, in Chinese; empty when it may be saved."""
    if not body or not body.strip():
        return ["模板内容不能为空"]
    try:
        ast = _env.parse(body)
    except TemplateSyntaxError as exc:
        return [f"模板语法错误（第 {exc.lineno} 行）：{exc.message}"]
    used = meta.find_undeclared_variables(ast)
    names = declared(variables)
    out = []
    unknown = sorted((used | names) - VARIABLES.keys())
    if unknown:
        out.append("不支持的变量：" + "、".join(unknown))
    undeclared = sorted(used - names)
    if undeclared:
        out.append("模板使用了未声明的变量：" + "、".join(undeclared))
    if category == "marketing" and OPT_OUT_HINT not in body:
        out.append("营销类短信须包含退订方式（如“回T退订”）")
    if not out:
        try:
            text = render(body, {k: VARIABLES[k][1] for k in names})
        except (SecurityError, UndefinedError, TypeError, ValueError) as exc:
            return [f"模板试渲染失败：{exc}"]
        if len(text) > MAX_LENGTH:
            out.append(f"渲染后长度 {len(text)} 超过 {MAX_LENGTH} 字")
    return out


@lru_cache(maxsize=256)
def _compiled(body: str):
    return _env.from_string(body)


def render(body: str, values: dict) -> str:
    """Render in the sandbox; a missing variable is an error, never an empty string."""
    return _compiled(body).render(**values).strip()
