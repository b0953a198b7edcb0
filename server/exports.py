"""Statistics downloads for city and district staff: one row per member of
a level inside a scope, as CSV (UTF-8 with BOM, streamed) or XLSX (frozen
header, rate formats, a second sheet that explains every column).

Beside the camera's accuracy each row gives the inspectors' (巡查, 查N错M)
and the accuracy corrected for the camera's error (校正后, server/correction.py),
each with its 95 % interval; empty cells where a member has none.

Rates: the CSV gives them in percent with two decimals (75.00 is 75 %), and
their headers say so, "（%）" / " (%)"; the XLSX keeps the fraction as a number
in a percent format (0.75 shows as 75.0 %), under the same headers."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import xlsxwriter


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    about_zh: str
    about_en: str
    get: Callable[[dict], object]
    rate: bool = False

    def header(self, lang: str) -> str:
        name = getattr(self, lang)
        if not self.rate:
            return name
        return name + ("（%）" if lang == "zh" else " (%)")


def column(key: str, zh: str, en: str, about_zh: str, about_en: str,
           get: Callable[[dict], object] | None = None, rate: bool = False) -> Column:
    """A column that shows the row's `key`, unless `get` says otherwise."""
    return Column(key, zh, en, about_zh, about_en, get or (lambda r: r[key]), rate)


def _met(r: dict) -> str:
    return " ".join(m for m in ("accuracy", "participation", "awareness") if r[m]["met"])


def _met_zh(r: dict) -> str:
    names = {"accuracy": "准确率", "participation": "参与率", "awareness": "知晓率"}
    return "、".join(names[m] for m in names if r[m]["met"])


def _part(figure: dict | None, key: str, index: int | None):
    """A field of an inspected or corrected figure (None when there is none)."""
    if figure is None:
        return None
    return figure[key] if index is None else figure[key][index]


def _inspected(r: dict, key: str, index: int | None = None):
    return _part(r["accuracy"]["inspected"], key, index)


def _corrected(r: dict, key: str, index: int | None = None):
    return _part(r["accuracy"]["corrected"], key, index)


COLUMNS = [
    Column("code", "区划代码", "code", "统计用区划代码", "statistical division code", lambda r: r["code"]),
    Column("name", "名称", "name", "街道或社区名称", "street or community name", lambda r: r["name"]),
    Column("households", "登记户数（全部）", "households (all registered)",
           "范围内全部社区的登记户数，含桶站不识别户的社区；参与率的分母只计有识别桶站社区的登记户数",
           "registered households of all communities in the scope, also those whose stations do "
           "not identify households; participation counts only communities with a reader",
           lambda r: r["participation"]["registered_households"]),
    Column("disposals", "投放次数", "disposals", "摄像头记录的全部投放", "all disposals seen",
           lambda r: r["disposals"]),
    Column("judged", "已判定", "judged", "非协助且非不确定的投放 = 正确 + 错误",
           "self-directed disposals with a verdict = correct + wrong", lambda r: r["coverage"]["judged"]),
    Column("correct", "正确", "correct", "投放正确（非协助）", "correct, not assisted",
           lambda r: r["accuracy"]["numerator"]),
    Column("wrong", "错误", "wrong", "投放错误（非协助）", "wrong, not assisted",
           lambda r: r["accuracy"]["denominator"] - r["accuracy"]["numerator"]),
    Column("accuracy", "自主投放准确率", "accuracy", "正确 ÷ 已判定；目标 90%",
           "correct / judged; target 90 %", lambda r: r["accuracy"]["value"], rate=True),
    Column("inspected_checked", "巡查检查数", "inspected: checked",
           "本期巡查员抽查的投放数（查N错M 的 N）；无巡查时为空",
           "disposals the inspectors checked in the period (the N of 查N错M); empty without inspections",
           lambda r: _inspected(r, "checked")),
    Column("inspected_wrong", "巡查错误数", "inspected: wrong", "巡查发现投错的数（查N错M 的 M）",
           "of those, found wrong (the M of 查N错M)", lambda r: _inspected(r, "wrong")),
    Column("inspected", "巡查准确率", "inspected accuracy", "1 − 巡查错误数 ÷ 巡查检查数；无巡查时为空",
           "1 − wrong / checked over the inspections; empty without inspections",
           lambda r: _inspected(r, "value"), rate=True),
    Column("inspected_low", "巡查准确率95%区间下限", "inspected 95% low", "Wilson 95% 置信区间下限",
           "Wilson 95 % interval, low end", lambda r: _inspected(r, "interval", 0), rate=True),
    Column("inspected_high", "巡查准确率95%区间上限", "inspected 95% high", "Wilson 95% 置信区间上限",
           "Wilson 95 % interval, high end", lambda r: _inspected(r, "interval", 1), rate=True),
    Column("corrected", "校正后准确率", "corrected accuracy",
           "按抽检测得的摄像头误差（每个模型版本全市汇总）校正后的准确率；抽检不足时为空",
           "accuracy corrected for the camera's error as audits of each model version measure it "
           "(pooled over the city); empty while a version has too few audits",
           lambda r: _corrected(r, "value"), rate=True),
    Column("corrected_low", "校正后准确率95%区间下限", "corrected 95% low",
           "参数自助法 95% 区间下限（含抽检样本与投放计数的不确定性）",
           "parametric bootstrap 95 % interval, low end (audit sample and counts)",
           lambda r: _corrected(r, "interval", 0), rate=True),
    Column("corrected_high", "校正后准确率95%区间上限", "corrected 95% high", "参数自助法 95% 区间上限",
           "parametric bootstrap 95 % interval, high end", lambda r: _corrected(r, "interval", 1), rate=True),
    Column("audited", "校正依据抽检数", "audits behind the correction",
           "校正所依据的抽检数（范围内各模型版本的全市抽检）", "audits the correction rests on (the city's "
           "audits of the model versions in the scope)", lambda r: _corrected(r, "audited")),
    Column("participating", "参与户数", "participating households",
           "本期至少投放一次的户数（仅统计有户卡/二维码识别的桶站）",
           "households with at least one disposal (stations with a card or QR reader only)",
           lambda r: r["participation"]["numerator"]),
    Column("participation", "参与率", "participation",
           "参与户数 ÷ 有识别桶站社区的登记户数；无识别时为空（未测量），目标 95%",
           "participating / registered households of communities whose stations identify "
           "households; empty when not measured; target 95 %",
           lambda r: r["participation"]["value"], rate=True),
    Column("respondents", "受访人数", "respondents", "答题与入户调查人数", "quiz takers and surveyed residents",
           lambda r: r["awareness"]["denominator"]),
    Column("aware", "知晓人数", "aware", "答对至少80%题目的人数（调查为知晓人数）",
           "respondents with at least 80 % right (surveys: aware)", lambda r: r["awareness"]["numerator"]),
    Column("awareness", "知晓率", "awareness", "知晓人数 ÷ 受访人数；目标 98%",
           "aware / respondents; target 98 %", lambda r: r["awareness"]["value"], rate=True),
    Column("awareness_low", "知晓率95%区间下限", "awareness 95% low", "Wilson 95% 置信区间下限",
           "Wilson 95 % interval, low end",
           lambda r: (r["awareness"]["interval"] or [None])[0], rate=True),
    Column("awareness_high", "知晓率95%区间上限", "awareness 95% high", "Wilson 95% 置信区间上限",
           "Wilson 95 % interval, high end",
           lambda r: (r["awareness"]["interval"] or [None, None])[1], rate=True),
    Column("targets_met", "达标指标", "targets met", "达到目标的指标", "rates that meet their target",
           lambda r: _met(r)),
    Column("coverage", "判定覆盖率", "coverage", "已判定 ÷ 投放次数（不确定的判定不计入准确率）",
           "judged / disposals (uncertain verdicts stay out of accuracy)",
           lambda r: r["coverage"]["value"], rate=True),
    Column("online_share", "在线率", "online share", "桶站在线时长 ÷ 本期已过时长 × 桶站数",
           "station time online / (elapsed period × stations)",
           lambda r: r["online_share"]["value"], rate=True),
]


RATE_NOTE_ZH = ("标有（%）的比率列：本表中为数值比例、以百分比格式显示（0.75 显示为 75.0%）；"
                "CSV 下载中为百分数，保留两位小数（75.00 即 75%）。空白表示未测量或无数据。")
RATE_NOTE_EN = ("Rate columns marked (%): in this workbook a fraction shown in percent format "
                "(0.75 shows as 75.0 %); in the CSV download a percentage with two decimals "
                "(75.00 means 75 %). Empty means not measured or no data.")


def _value(col: Column, report: dict, lang: str):
    if col.key == "targets_met" and lang == "zh":
        return _met_zh(report)
    return col.get(report)


def csv_rows(reports: list[dict], lang: str, columns: list[Column] = COLUMNS) -> Iterator[str]:
    """The CSV text, a row at a time, starting with a BOM for Excel."""
    buf = io.StringIO()
    writer = csv.writer(buf)

    def flush() -> str:
        text = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        return text

    writer.writerow([c.header(lang) for c in columns])
    yield "\ufeff" + flush()
    for r in reports:
        row = []
        for c in columns:
            v = _value(c, r, lang)
            row.append("" if v is None else (f"{v * 100:.2f}" if c.rate else v))
        writer.writerow(row)
        yield flush()


def xlsx_bytes(reports: list[dict], lang: str, title: str, columns: list[Column] = COLUMNS,
               sheet_names: tuple[str, str] = ("统计", "statistics")) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    bold = book.add_format({"bold": True, "bg_color": "#E8EEF4", "text_wrap": True,
                            "valign": "top", "border": 1})
    percent = book.add_format({"num_format": "0.0%"})
    sheet = book.add_worksheet(sheet_names[0] if lang == "zh" else sheet_names[1])
    for i, c in enumerate(columns):
        sheet.write(0, i, c.header(lang), bold)
        sheet.set_column(i, i, 14 if c.key != "name" else 22, percent if c.rate else None)
    sheet.freeze_panes(1, 2)
    sheet.set_row(0, 32)
    for row, r in enumerate(reports, start=1):
        for i, c in enumerate(columns):
            v = _value(c, r, lang)
            if v is not None:
                sheet.write(row, i, v)
    sheet.autofilter(0, 0, max(1, len(reports)), len(columns) - 1)
    about = book.add_worksheet("说明" if lang == "zh" else "columns")
    about.write_row(0, 0, ["列" if lang == "zh" else "column",
                           "含义与公式" if lang == "zh" else "meaning and formula"], bold)
    about.set_column(0, 0, 22)
    about.set_column(1, 1, 90)
    for i, c in enumerate(columns, start=1):
        about.write_row(i, 0, [c.header(lang), c.about_zh if lang == "zh" else c.about_en])
    about.write_row(len(columns) + 2, 0, [
        "比率单位" if lang == "zh" else "rate unit",
        RATE_NOTE_ZH if lang == "zh" else RATE_NOTE_EN])
    about.write(len(columns) + 4, 0, title)
    book.close()
    return out.getvalue()
