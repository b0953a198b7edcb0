"""CSV and XLSX downloads, read back the way a clerk's Excel would."""
from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from ..support import disposal, login, post_events


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
