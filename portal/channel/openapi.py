"""OpenAPI 3 description of the channel API, served at /api/channel/v1/openapi.json."""

from __future__ import annotations

from portal.channel import keys as channel_keys

_STR = {"type": "string"}
ERROR = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "description": "稳定的错误码，如 AUTH_BAD_SIGNATURE"},
        "message": {"type": "string", "description": "中文错误说明"},
    },
}
STATUS = {
    "type": "string",
    "enum": [
        "processing",
        "reviewing",
        "need_info",
        "approving",
        "approved",
        "active",
        "rejected",
        "withdrawn",
        "expired",
    ],
}
# What the server refuses with 400 INVALID_FIELD is declared here, so that every body this
# document allows is accepted as well-formed (tests/channel/test_channel_schemathesis.py checks it).
# Text first loses invisible characters (portal/core/text_input.py); control characters are refused.
NO_CONTROL = "^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]*$"  # one line, no control character
NO_CONTROL_LINES = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x84\\x86-\\x9f]*$"  # line breaks ok
# (0, 10 000 000] yuan with at most two decimals, no leading zero
AMOUNT = r"^(10000000(\.0{1,2})?|[1-9][0-9]{0,6}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))$"
ID_FIELDS = {
    "id_number": {
        "type": "string",
        "pattern": "^[0-9]{17}[0-9Xx]$",
        "format": "cn-resident-id",
        "description": (
            "18 位居民身份证号（GB 11643）：校验码正确，出生日期有效且不晚于今天，地区码的省份存在"
        ),
    },
    "mobile": {
        "type": "string",
        "pattern": "^1[3-9][0-9]{9}$",
        "format": "cn-mobile",
        "description": "11 位中国大陆手机号（号段须存在）",
    },
}
REQUEST_ID = {
    "type": "string",
    "pattern": "^[A-Za-z0-9_-]{1,64}$",
    "description": (
        "渠道请求流水号（幂等键）：同一流水号的重复请求返回首次应答；"
        "同一流水号用于内容不同的请求（接口、路径或请求体不同）返回 422 IDEMPOTENCY_KEY_REUSED"
    ),
}
REF = {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"}
SUBMIT = {
    "type": "object",
    "required": [
        "request_id",
        "offer_id",
        "id_number",
        "mobile",
        "amount",
        "authorization",
        "contract",
    ],
    "properties": {
        "request_id": REQUEST_ID,
        "offer_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        **ID_FIELDS,
        "amount": {
            "type": "string",
            "pattern": AMOUNT,
            "description": "申请金额（元）：大于 0、不超过 1000 万元、最多两位小数；超过预授信额度为 422",
        },
        "authorization": {
            "type": "object",
            "description": "征信查询授权书",
            "required": ["ref", "version", "signed_at"],
            "properties": {
                "ref": REF,
                "version": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,20}$"},
                "signed_at": {
                    "type": "string",
                    "format": "date-time",
                    "description": (
                        "签署时间（RFC 3339；不带时区按北京时间）。须在服务器时间前 30 日以内、"
                        "且不晚于服务器时间 5 分钟，否则 422 AUTHORIZATION_INVALID"
                    ),
                    "x-window": {"not_before": "-P30D", "not_after": "PT5M"},
                },
            },
        },
        "contract": {
            "type": "object",
            "description": "电子合同",
            "required": ["ref", "hash"],
            "properties": {
                "ref": REF,
                "hash": {
                    "type": "string",
                    "pattern": "^[0-9a-fA-F]{64}$",
                    "description": "SHA-256（十六进制）",
                },
            },
        },
        "device": {
            "type": "object",
            "properties": {
                k: {"type": "string", "maxLength": 64, "pattern": NO_CONTROL}
                for k in ("os", "app_version", "device_id", "ip")
            },
        },
    },
}
WITHDRAW = {
    "type": "object",
    "required": ["request_id"],
    "properties": {
        "request_id": REQUEST_ID,
        "reason": {"type": "string", "maxLength": 200, "pattern": NO_CONTROL_LINES},
    },
}
# the stable error codes, by HTTP status (portal/channel/errors.py, portal/channel/intake*.py,
# portal/channel/keys.py)
AUTH_CODES = [
    "AUTH_MISSING",
    "AUTH_BAD_NONCE",
    "AUTH_BAD_TIMESTAMP",
    "AUTH_STALE_TIMESTAMP",
    "AUTH_BAD_KEY",
    "AUTH_BAD_SIGNATURE",
    "AUTH_REPLAY",
]
BODY_CODES = ["BAD_JSON", "MISSING_FIELD", "INVALID_FIELD", "BAD_REQUEST"]
ERROR_NAMES = {
    400: "请求无效",
    401: "签名校验失败",
    404: "不存在",
    405: "该路径不支持此请求方法（响应头 Allow 列出支持的方法）",
    409: "状态冲突",
    413: "请求体过大",
    415: "请求体须为 JSON（Content-Type: application/json）",
    422: "业务规则拒绝",
}
APPLICATION = {
    "type": "object",
    "required": ["app_no", "status", "status_label"],
    "properties": {
        "app_no": _STR,
        "status": STATUS,
        "status_label": _STR,
        "amount": _STR,
        "submitted_at": _STR,
        "progress": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"status": STATUS, "label": _STR, "at": _STR},
            },
        },
    },
}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(errors: dict[int, list[str]]) -> dict:
    """Each refusal's status with the stable codes it can carry."""
    out = {}
    for status, codes in sorted(errors.items()):
        schema = {
            "allOf": [
                {"$ref": "#/components/schemas/Error"},
                {"properties": {"code": {"enum": codes}}},
            ]
        }
        out[str(status)] = {"description": f"{ERROR_NAMES[status]}：{'、'.join(codes)}"}
        out[str(status)].update(_json(schema))
    return out


def _op(summary: str, ok: int, ok_schema: dict, errors: dict, body: dict | None = None) -> dict:
    """An operation; every one can also answer 401 (signature), 404 NOT_FOUND (no such
    path), 405 (with Allow) and 413 (the body limit is checked before anything else)."""
    errors = {
        401: AUTH_CODES,
        405: ["METHOD_NOT_ALLOWED"],
        413: ["BODY_TOO_LARGE"],
        **errors,
    }
    errors[404] = [*errors.get(404, []), "NOT_FOUND"]
    if body is not None:
        errors |= {400: BODY_CODES, 415: ["UNSUPPORTED_MEDIA_TYPE"]}
    op = {
        "summary": summary,
        "security": [{"ApiKey": [], "Timestamp": [], "Nonce": [], "Signature": []}],
        "responses": {str(ok): {"description": "成功", **_json(ok_schema)}, **_errors(errors)},
    }
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    return op


def spec(server: str = "") -> dict:
    ok = {"type": "object", "properties": {"code": _STR, "application": APPLICATION}}
    app_no = [
        {
            "name": "app_no",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "maxLength": 32},
        }
    ]
    header = {"type": "apiKey", "in": "header"}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "信贷工作台渠道接口（手机银行）",
            "version": "1.0.0",
            "description": (
                "每个请求以 HMAC-SHA256 签名：签名串为 METHOD\\nPATH\\nX-Timestamp\\nX-Nonce\\n"
                "sha256_hex(body)，密钥为渠道密钥，结果小写十六进制放入 X-Signature。"
                "时间戳须在服务器时间 ±300 秒内；随机数不可重复使用。"
                '错误应答一律为 JSON {"code": 稳定错误码, "message": 中文说明}，'
                "各接口可能的错误码列在其应答中。请求体须为 UTF-8 JSON"
                "（Content-Type: application/json）。文本字段中的不可见字符（零宽字符、"
                "双向控制符等）会被去除，控制字符则以 400 INVALID_FIELD 拒绝。"
                f"渠道：{', '.join(channel_keys.CHANNELS)}。"
            ),
        },
        "servers": [{"url": server + "/api/channel/v1"}] if server else [],
        "components": {
            "securitySchemes": {
                "ApiKey": {**header, "name": "X-Api-Key"},
                "Timestamp": {**header, "name": "X-Timestamp"},
                "Nonce": {**header, "name": "X-Nonce"},
                "Signature": {**header, "name": "X-Signature"},
            },
            "schemas": {"Error": ERROR},
        },
        "paths": {
            "/offers/lookup": {
                "post": _op(
                    "查询客户可申请的预授信额度",
                    200,
                    {"type": "object", "properties": {"code": _STR, "offers": {"type": "array"}}},
                    {404: ["OFFER_NOT_FOUND"]},
                    {
                        "type": "object",
                        "required": ["id_number", "mobile"],
                        "properties": ID_FIELDS,
                    },
                )
            },
            "/applications": {
                "post": _op(
                    "提交消费易申请（按 request_id 幂等）",
                    201,
                    ok,
                    {
                        404: ["OFFER_NOT_FOUND"],
                        409: ["OFFER_ALREADY_APPLIED"],
                        422: [
                            "OFFER_EXPIRED",
                            "OFFER_REVOKED",
                            "AMOUNT_OVER_LIMIT",
                            "CUSTOMER_BLACKLISTED",
                            "AUTHORIZATION_MISSING",
                            "AUTHORIZATION_INVALID",
                            "IDEMPOTENCY_KEY_REUSED",
                        ],
                    },
                    SUBMIT,
                )
            },
            "/applications/{app_no}": {
                "get": {
                    **_op("查询申请进度", 200, ok, {404: ["APPLICATION_NOT_FOUND"]}),
                    "parameters": app_no,
                }
            },
            "/applications/{app_no}/withdraw": {
                "post": {
                    **_op(
                        "客户撤回申请（按 request_id 幂等；撤回后该预授信额度恢复可申请）",
                        200,
                        ok,
                        {
                            404: ["APPLICATION_NOT_FOUND"],
                            409: ["ILLEGAL_TRANSITION"],
                            422: ["IDEMPOTENCY_KEY_REUSED"],
                        },
                        WITHDRAW,
                    ),
                    "parameters": app_no,
                }
            },
        },
    }
