"""The governance attributes every field of a canonical schema carries, and their allowed values.

- ``share``: 无条件共享 unconditional / 有条件共享 conditional / 不予共享 none (国发〔2016〕51号);
- ``sensitivity``: kinds of personal information in the field ([] when none);
- ``grade``: 一般 general / 重要 important / 核心 core (GB/T 43697-2024);
- ``owner``: the department that provides and answers for the data;
- ``update_cycle``: how often the provider updates it.
"""

from __future__ import annotations

SHARE = {"unconditional": "无条件共享", "conditional": "有条件共享", "none": "不予共享"}
GRADE = {"general": "一般数据", "important": "重要数据", "core": "核心数据"}
UPDATE_CYCLE = {
    "realtime": "实时",
    "daily": "每日",
    "weekly": "每周",
    "monthly": "每月",
    "quarterly": "每季度",
    "yearly": "每年",
    "on_change": "变更时",
}
SENSITIVITY = {
    "id_number": "身份证件号码",
    "name": "姓名",
    "phone": "联系电话",
    "address": "住址",
    "birth_date": "出生日期",
    "gender": "性别",
    "ethnicity": "民族",
    "health": "健康生理信息",
    "financial": "财产信息",
    "social_assistance": "社会救助信息",
    "location": "行踪轨迹",
    "credit_code": "统一社会信用代码",
    "free_text": "自由文本（可能含个人信息）",
}
REQUIRED = ("doc", "share", "sensitivity", "grade", "owner", "update_cycle")
