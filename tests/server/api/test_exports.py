"""CSV and XLSX downloads, read back the way a clerk's Excel would."""
from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from ..support import audited_district, disposal, login, post_events


def seed(client, city):
    ts = "2026-11-10T12:00:00+08:00"
    events = [disposal(ts=ts, verdict="correct", bin="other") for _ in range(3)] + \
             [disposal(ts=ts, verdict="wrong", bin="other")]
    post_events(client, city, events)


def test_csv_has_bom_chinese_headers_and_one_row_per_member(client, city):
    seed(client, city)
    login(client, "xicheng")
    r = client.get("/exports/stats.csv", query_string={"level": "community", "within": "110102",
                                                       "month": "2026-11"})
    assert r.status_code == 200 and r.mimetype == "text/csv" and r.is_streamed
    assert "attachment" in r.headers["Content-Disposition"]
    raw = r.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [row["区划代码"] for row in rows] == ["110102001001", "110102001002", "110102003001"]
    first = rows[0]
    # Rates in percent, as every page shows them, and the header says so.
    assert (first["投放次数"], first["正确"], first["错误"], first["自主投放准确率（%）"]) == ("4", "3", "1", "75.00")
    assert first["判定覆盖率（%）"] == "100.00"
    assert first["名称"] == "三里河社区" and rows[2]["自主投放准确率（%）"] == ""
    assert "登记户数（全部）" in rows[0]  # all households, not only those of reader communities
    en = client.get("/exports/stats.csv", query_string={"level": "street", "within": "110102",
                                                        "month": "2026-11", "lang": "en"})
    header = en.get_data().decode("utf-8-sig").splitlines()[0]
    assert header.startswith("code,name,households (all registered),disposals,judged,correct,wrong,accuracy (%)")


def test_xlsx_has_frozen_header_rate_formats_and_a_column_sheet(client, city):
    seed(client, city)
    login(client, "city")
    r = client.get("/exports/stats.xlsx", query_string={"level": "community", "within": "110102",
                                                        "month": "2026-11"})
    assert r.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(r.get_data()))
    data, about = book.worksheets
    assert data.freeze_panes == "C2"
    header = [c.value for c in data[1]]
    assert header[:3] == ["区划代码", "名称", "登记户数（全部）"]
    col = header.index("自主投放准确率（%）") + 1
    cell = data.cell(row=2, column=col)
    assert cell.value == pytest.approx(0.75) and cell.number_format == "0.0%"
    assert data.max_row == 4
    described = [row[0].value for row in about.iter_rows(min_row=2) if row[0].value]
    assert set(header) <= set(described)
    notes = {row[0].value: row[1].value for row in about.iter_rows(min_row=2) if row[0].value}
    assert "百分比格式" in notes["比率单位"] and "CSV 下载中为百分数" in notes["比率单位"]


NEW_COLUMNS = ["巡查检查数", "巡查错误数", "巡查准确率（%）", "巡查准确率95%区间下限（%）", "巡查准确率95%区间上限（%）",
               "校正后准确率（%）", "校正后准确率95%区间下限（%）", "校正后准确率95%区间上限（%）", "校正依据抽检数"]


def stats_of(client, code, month):
    return client.get("/api/v1/stats", query_string={"level": "community", "code": code,
                                                     "month": month}).get_json()["accuracy"]


def test_csv_gives_the_inspected_and_corrected_accuracy_beside_the_cameras(client, city):
    month = audited_district(client, city)
    login(client, "xicheng")
    r = client.get("/exports/stats.csv", query_string={"level": "community", "within": "110102",
                                                       "month": month})
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.get_data().decode("utf-8-sig"))))
    header = list(rows[0])
    at = header.index("自主投放准确率（%）")
    assert header[at + 1:at + 1 + len(NEW_COLUMNS)] == NEW_COLUMNS      # right beside the camera's
    by_code = {row["区划代码"]: row for row in rows}
    for code, row in by_code.items():
        own = stats_of(client, code, month)
        corrected, inspected = own["corrected"], own["inspected"]
        if corrected is None:       # null is an empty cell
            assert [row[c] for c in NEW_COLUMNS[5:]] == ["", "", "", ""], code
        else:
            assert row["校正后准确率（%）"] == f"{corrected['value'] * 100:.2f}"
            assert row["校正后准确率95%区间下限（%）"] == f"{corrected['interval'][0] * 100:.2f}"
            assert row["校正后准确率95%区间上限（%）"] == f"{corrected['interval'][1] * 100:.2f}"
            assert row["校正依据抽检数"] == str(corrected["audited"])
        if inspected is None:
            assert [row[c] for c in NEW_COLUMNS[:5]] == [""] * 5, code
    a = by_code["110102001001"]
    assert (a["巡查检查数"], a["巡查错误数"], a["巡查准确率（%）"]) == ("40", "4", "90.00")
    assert a["自主投放准确率（%）"] == "70.00" and a["校正后准确率（%）"] != ""
    assert by_code["110102003001"]["校正后准确率（%）"] == ""        # never audited


def test_xlsx_keeps_the_new_figures_as_percent_fractions_and_explains_them(client, city):
    month = audited_district(client, city)
    login(client, "xicheng")
    r = client.get("/exports/stats.xlsx", query_string={"level": "community", "within": "110102",
                                                        "month": month, "lang": "en"})
    data, about = openpyxl.load_workbook(io.BytesIO(r.get_data())).worksheets
    header = [c.value for c in data[1]]
    rows = {row[0]: dict(zip(header, row, strict=True)) for row in data.iter_rows(min_row=2, values_only=True)}
    own = stats_of(client, "110102001001", month)
    a = rows["110102001001"]
    assert a["corrected accuracy (%)"] == pytest.approx(own["corrected"]["value"])
    assert a["inspected accuracy (%)"] == pytest.approx(0.9) and a["inspected: checked"] == 40
    assert rows["110102003001"]["corrected accuracy (%)"] is None
    col = header.index("corrected accuracy (%)") + 1
    assert data.cell(row=2, column=col).number_format == "0.0%"
    described = {row[0].value for row in about.iter_rows(min_row=2) if row[0].value}
    assert {"inspected accuracy (%)", "corrected accuracy (%)", "audits behind the correction"} <= described


@pytest.mark.parametrize("user, query, status", [
    ("vol", {"level": "community", "within": "110102001"}, 403),
    ("chaoyang", {"level": "community", "within": "110102"}, 403),
    ("xicheng", {"level": "district"}, 403),
    ("xicheng", {"level": "district", "within": "110102"}, 400),
    ("xicheng", {"level": "community", "within": "110102", "lang": "fr"}, 400),
    ("sanlihe", {"level": "community", "within": "110102001"}, 403),
])
def test_export_refusals(client, city, user, query, status):
    login(client, user)
    assert client.get("/exports/stats.csv", query_string=query).status_code == status
    assert client.get("/exports/stats.xlsx", query_string=query).status_code == status


def test_export_needs_login(client, city):
    r = client.get("/exports/stats.csv", query_string={"level": "district"})
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
