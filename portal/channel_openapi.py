"""OpenAPI 3 description of the channel API, served at /api/channel/v1/openapi.json."""

from __future__ import annotations

from portal import channel_keys

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
ID_FIELDS = {
    "id_number": {
        "type": "string",
        "minLength": 18,
        "maxLength": 18,
        "description": "18 位身份证号",
    },
    "mobile": {"type": "string", "pattern": "^1[3-9][0-9]{9}$", "description": "11 位手机号"},
}
REQUEST_ID = {
    "type": "string",
    "pattern": "^[A-Za-z0-9_-]{1,64}$",
    "description": "渠道请求流水号（幂等键）",
}
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
        "offer_id": {"type": "integer", "minimum": 1},
        **ID_FIELDS,
        "amount": {
            "type": "string",
            "pattern": r"^[0-9]{1,8}(\.[0-9]{1,2})?$",
            "description": "申请金额（元），不超过预授信额度",
        },
        "authorization": {
            "type": "object",
            "description": "征信查询授权书",
            "required": ["ref", "version", "signed_at"],
            "properties": {
                "ref": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"},
                "version": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,20}$"},
                "signed_at": {"type": "string", "format": "date-time"},
            },
        },
        "contract": {
            "type": "object",
            "description": "电子合同",
            "required": ["ref", "hash"],
            "properties": {
                "ref": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"},
                "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "SHA-256"},
            },
        },
        "device": {
            "type": "object",
            "properties": {
                k: {"type": "string", "maxLength": 64}
                for k in ("os", "app_version", "device_id", "ip")
            },
        },
    },
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


def _errors(*codes: int) -> dict:
    names = {
        400: "请求无效",
        401: "签名校验失败",
        404: "不存在",
        409: "状态冲突",
        413: "请求体过大",
        422: "业务规则拒绝",
    }
    return {
        str(c): {"description": names[c], **_json({"$ref": "#/components/schemas/Error"})}
        for c in codes
    }


def _op(summary: str, ok: int, ok_schema: dict, errors: tuple, body: dict | None = None) -> dict:
    op = {
        "summary": summary,
        "security": [{"ApiKey": [], "Timestamp": [], "Nonce": [], "Signature": []}],
        "responses": {str(ok): {"description": "成功", **_json(ok_schema)}, **_errors(*errors)},
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
                    (400, 401, 404, 413),
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
                    (400, 401, 404, 409, 413, 422),
                    SUBMIT,
                )
            },
            "/applications/{app_no}": {
                "get": {**_op("查询申请进度", 200, ok, (401, 404)), "parameters": app_no}
            },
            "/applications/{app_no}/withdraw": {
                "post": {
                    **_op(
                        "客户撤回申请（按 request_id 幂等；撤回后该预授信额度恢复可申请）",
                        200,
                        ok,
                        (400, 401, 404, 409, 413),
                        {
                            "type": "object",
                            "required": ["request_id"],
                            "properties": {
                                "request_id": REQUEST_ID,
                                "reason": {"type": "string", "maxLength": 200},
                            },
                        },
                    ),
                    "parameters": app_no,
                }
            },
        },
    }
