"""The inspectors' ledger: the inspections of a scope and month in the layout
the districts' spreadsheets use (检查日期, 街道, 社区, 桶站, 时段, 查N错M,
投放准确率, and the camera's accuracy over the same window), for the CSV and
XLSX writers of server/exports.py."""
from __future__ import annotations

from .exports import column as _col
from .rates import ratio
from .timeutil import BEIJING, Period, parse_ts


def camera_counts(store, inspection: dict) -> tuple[int, int]:
    """(called correct, judged) by the camera itself over the disposals the
    inspector watched: unassisted, its verdicts before feedback, start to end."""
    start, end = parse_ts(inspection["start_ts"]), parse_ts(inspection["end_ts"])
    first, last = start.astimezone(BEIJING).date(), end.astimezone(BEIJING).date()
    correct = judged = 0
    for ev in store.camera_verdicts(inspection["station_id"], first.isoformat(), last.isoformat()):
        if ev["assisted"] or ev["camera"] not in ("correct", "wrong"):
            continue
        if start <= parse_ts(ev["ts"]) < end:
            judged += 1
            correct += ev["camera"] == "correct"
    return correct, judged


def ledger_rows(store, within: str, period: Period) -> list[dict]:
    stations = {s["id"]: s for s in store.stations_in(within)}
    rows = []
    for r in store.inspections(within, period.start.isoformat(), period.end.isoformat()):
        start, end = parse_ts(r["start_ts"]).astimezone(BEIJING), parse_ts(r["end_ts"]).astimezone(BEIJING)
        station = stations.get(r["station_id"], {})
        street = store.region(r["community_code"][:9]) or {}
        correct, judged = camera_counts(store, r)
        rows.append({"date": start.date().isoformat(), "street": street.get("name", r["community_code"][:9]),
                     "community": station.get("community", r["community_code"]),
                     "station": f'{station.get("name", r["station_id"])} ({r["station_id"]})',
                     "window": f"{start:%H:%M}–{end:%H:%M}", "tally": f'查{r["checked"]}错{r["wrong"]}',
                     "checked": r["checked"], "wrong": r["wrong"],
                     "accuracy": ratio(r["checked"] - r["wrong"], r["checked"]),
                     "camera_accuracy": ratio(correct, judged), "camera_judged": judged,
                     "note": r["note"], "inspector": r["username"]})
    return rows


LEDGER_COLUMNS = [
    _col("date", "检查日期", "date", "检查开始的北京日期", "Beijing day the check started"),
    _col("street", "街道", "street", "桶站所在街道", "the station's street"),
    _col("community", "社区", "community", "桶站所在社区", "the station's community"),
    _col("station", "桶站", "station", "桶站名称（编号）", "station name (id)"),
    _col("window", "时段", "window", "检查开始与结束的北京时间", "start and end, Beijing time"),
    _col("tally", "查N错M", "checked N wrong M", "检查员记录：查看 N 次投放，其中 M 次错误",
         "the inspector's record: N disposals checked, M of them wrong"),
    _col("checked", "检查数", "checked", "检查的投放次数 N", "disposals checked, N"),
    _col("wrong", "错误数", "wrong", "其中错误 M", "of which wrong, M"),
    _col("accuracy", "投放准确率", "accuracy", "1 − M ÷ N", "1 - M / N", rate=True),
    _col("camera_accuracy", "摄像头准确率", "camera accuracy",
         "同一桶站同一时段摄像头判定的准确率（摄像头原判，非协助）",
         "the camera's own accuracy at the same station over the same window (its verdicts "
         "before feedback, unassisted disposals)", rate=True),
    _col("camera_judged", "摄像头判定数", "camera judged", "该时段摄像头判定（正确或错误）的投放数",
         "disposals the camera judged right or wrong in that window"),
    _col("note", "备注", "note", "检查员备注", "the inspector's note"),
    _col("inspector", "检查员", "inspector", "记录的检查员账号", "the inspector's login"),
]
