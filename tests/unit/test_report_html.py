"""The HTML report escapes stored text: markup, and control characters HTML cannot hold
(NUL) or that a terminal would obey when the file is shown with cat (ESC, BEL, bidi)."""

from __future__ import annotations

import json

import polars as pl

from rerankwatch.report import html as report_html

CONTROLS = "\x1b[2J\x1b]0;pwned\x07 \x00 \u202eevil <b>"


def test_table_cells_and_column_names_show_control_characters_as_escapes() -> None:
    frame = pl.DataFrame({f"doc{CONTROLS}": [f"v{CONTROLS}", "tab\tand\nline"]})
    page = report_html._table(frame)
    for char in "\x1b\x07\x00\u202e":
        assert char not in page
    assert page.count("\\x1b[2J\\x1b]0;pwned\\x07 \\x00 \\u202eevil &lt;b&gt;") == 2
    assert "tab\tand\nline" in page


def test_check_details_show_control_characters_as_escapes() -> None:
    detail = json.dumps({"message": f"engine failed: {CONTROLS}"}, ensure_ascii=False)
    page = report_html._cell("detail", detail, check="finite")
    assert "\x1b" not in page and "\x00" not in page
    assert "\\x1b[2J" in page
