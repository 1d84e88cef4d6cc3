"""docs/operations.md documents every setting, and names no TCNAD_ variable that is not one.

Both ways: each ``Settings`` field has a table row ``| `TCNAD_<FIELD>` | default | meaning |``
on the operations page, and every ``TCNAD_`` name on the docs pages and the README is a
field, or a test-only variable (``TCNAD_TEST_*``) that the operations page documents under
"Tests" and the tests read."""

from __future__ import annotations

import re
from pathlib import Path

from tcnad.topology.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
OPERATIONS = ROOT / "docs" / "operations.md"
# A variable name, not a family written as TCNAD_KAFKA_* nor the page's pattern TCNAD_NAME.
_NAME = re.compile(r"\bTCNAD_[A-Z0-9_]*[A-Z0-9]\b(?!_?\*)")
_ROW = re.compile(r"^\s*\|\s*`(TCNAD_[A-Z0-9_]+)`\s*\|", re.MULTILINE)
_PATTERN = "TCNAD_NAME"  # "each field `name` reads `TCNAD_NAME`"


def fields() -> set[str]:
    return {f"TCNAD_{name.upper()}" for name in Settings.model_fields}


def test_every_setting_has_a_row_on_the_operations_page() -> None:
    rows = set(_ROW.findall(OPERATIONS.read_text()))
    assert len(fields()) >= 40
    assert sorted(fields() - rows) == []


def test_every_row_on_the_operations_page_is_a_setting() -> None:
    rows = _ROW.findall(OPERATIONS.read_text())
    assert sorted(set(rows) - fields()) == []
    assert len(rows) == len(set(rows)), "a variable has two rows"


def test_every_variable_the_docs_name_is_a_setting_or_a_documented_test_variable() -> None:
    page = OPERATIONS.read_text()
    tests_section = page.split("\n## Tests\n", 1)[1].split("\n## ", 1)[0]
    test_vars = set(re.findall(r"\bTCNAD_TEST_[A-Z0-9_]+\b", tests_section))
    assert "TCNAD_TEST_KAFKA" in test_vars
    here = Path(__file__).resolve()
    sources = "\n".join(
        p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.resolve() != here
    )
    unread = sorted(v for v in test_vars if f'"{v}"' not in sources)
    assert unread == [], "documented test variables that no test reads"
    known = fields() | test_vars | {_PATTERN}
    pages = [OPERATIONS, ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    unknown = {
        str(p.relative_to(ROOT)): sorted(set(_NAME.findall(p.read_text())) - known) for p in pages
    }
    assert {p: names for p, names in unknown.items() if names} == {}


def test_the_name_pattern_skips_families_and_sees_variables() -> None:
    text = "`TCNAD_KAFKA_*` and TCNAD_REDIS_URL, `TCNAD_PARTITIONS=3`, TCNAD_ALERT_* and TCNAD_"
    assert _NAME.findall(text) == ["TCNAD_REDIS_URL", "TCNAD_PARTITIONS"]
    assert _ROW.findall("| `TCNAD_X` | 1 | y |\n  | `TCNAD_Y` | (unset) | z |") == [
        "TCNAD_X",
        "TCNAD_Y",
    ]
