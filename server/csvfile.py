"""Reading the CSV files operators import: the whole file is checked before
anything is written, and every problem names its line."""
from __future__ import annotations

import csv
import io


class ImportRefused(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def read_rows(text: str, columns: list[str]) -> tuple[list[tuple[int, dict]], list[str]]:
    """(line number, {column: stripped cell}) for each non-blank row, and the
    problems of shape (wrong header, wrong column count). A BOM, as Excel
    writes it, is accepted."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise ImportRefused(["line 1: the file is empty"])
    if [h.strip() for h in header] != columns:
        raise ImportRefused([f"line 1: the header must be {','.join(columns)}"])
    rows, problems = [], []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            problems.append(f"line {reader.line_num}: expected {len(columns)} columns, got {len(row)}")
            continue
        rows.append((reader.line_num, dict(zip(columns, (cell.strip() for cell in row), strict=False))))
    return rows, problems


def finish(rows: list, problems: list[str]) -> list:
    if problems:
        raise ImportRefused(problems)
    if not rows:
        raise ImportRefused(["the file has a header but no rows"])
    return rows
