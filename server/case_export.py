"""The cases download (工单台账): one row per case of a scope and month, for
the CSV and XLSX writers of server/exports.py, with Chinese headers."""
from __future__ import annotations

from datetime import datetime

from .exports import column as _col
from .timeutil import BEIJING

KIND_ZH = {"overflow": "满冒", "litter": "垃圾落地", "offline": "桶站离线", "camera": "摄像头常被纠正"}
STATE_ZH = {"open": "待派单", "dispatched": "已派单", "resolved": "已处理", "closed": "已销项",
            "false_alarm": "误报"}
LEVEL_ZH = {"new": "发现", "overdue": "滞留", "long_overdue": "超级滞留",
            "street_supervised": "街道督办", "district_supervised": "区督办"}
OUTCOME_ZH = {"done": "完成", "mismanaged": "管理不规范", "false_alarm": "误报"}


def _local(ts: str | None) -> str | None:
    return None if ts is None else datetime.fromisoformat(ts).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def case_rows(store, cases: list[dict]) -> list[dict]:
    stations = {}
    rows = []
    for c in cases:
        if c["station_id"] not in stations:
            stations[c["station_id"]] = store.station(c["station_id"]) or {}
        station = stations[c["station_id"]]
        street = store.region(c["community_code"][:9]) or {}
        community = store.region(c["community_code"]) or {}
        rows.append({**c, "street": street.get("name", c["community_code"][:9]),
                     "community": community.get("name", c["community_code"]),
                     "station": f'{station.get("name", c["station_id"])} ({c["station_id"]})',
                     "opened": _local(c["opened_at"]), "resolved": _local(c["resolved_at"]),
                     "closed": _local(c["closed_at"]),
                     "minutes": None if c["resolve_seconds"] is None else round(c["resolve_seconds"] / 60, 1)})
    return rows


def _named(key, names):
    return lambda r: None if r[key] is None else names.get(r[key], r[key])


CASE_COLUMNS = [
    _col("id", "工单号", "case", "工单编号", "case number"),
    _col("kind", "类型", "kind", "满冒、垃圾落地、桶站离线或摄像头常被纠正",
         "overflow, litter, station offline or a camera often corrected", _named("kind", KIND_ZH)),
    _col("street", "街道", "street", "桶站所在街道", "the station's street"),
    _col("community", "社区", "community", "桶站所在社区", "the station's community"),
    _col("station", "桶站", "station", "桶站名称（编号）", "station name (id)"),
    _col("bin", "桶", "bin", "满冒的桶（类别）", "the overflowing bin (category)"),
    _col("opened", "发现时间", "opened", "发现时间（北京时间）", "when found, Beijing time"),
    _col("state", "状态", "state", "待派单、已派单、已处理、已销项或误报",
         "open, dispatched, resolved, closed or false alarm", _named("state", STATE_ZH)),
    _col("level", "等级", "level", "发现、滞留（超过第一时限）、超级滞留（超过第二时限）、街道督办、区督办",
         "new, overdue, long overdue, supervised by the street, by the district",
         _named("level_name", LEVEL_ZH)),
    _col("assignee", "处理人", "assignee", "派给的岗位（物业、保洁等），不含个人信息",
         "the role or team it was sent to, no personal data"),
    _col("resolved", "处理时间", "resolved", "处理完成时间（北京时间）", "when resolved, Beijing time"),
    _col("minutes", "处理时长（分钟）", "minutes to resolve", "发现到处理完成的分钟数",
         "minutes from found to resolved"),
    _col("closed", "销项时间", "closed", "销项或判为误报的时间（北京时间）",
         "when closed or called a false alarm, Beijing time"),
    _col("outcome", "结果", "outcome", "完成、管理不规范或误报", "done, mismanaged or false alarm",
         _named("outcome", OUTCOME_ZH)),
    _col("note", "备注", "note", "销项说明", "closing note"),
    _col("evidence_event_id", "证据事件", "evidence event", "发现该问题的桶站事件编号",
         "the station event that found it"),
]
