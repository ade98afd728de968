"""pipelines/inputs.py: user CSV files -> raw_inputs.* (missing = empty, malformed = a clear error)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from decimal import Decimal

import duckdb
import pytest

from pipelines.inputs import InputFileError, load_user_inputs

SPEND = "month,channel,amount\n2026-01,Yandex,180000\n2026-01-15,vk,25000.5\n\n2026-02,yandex,0\n"
TARGETS = "month,manager,target_revenue,target_deals\n2026-01,Анна Смирнова,1500000,\n2026-01,7700002,,5\n"


def _tables(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return {t: connection.execute(f"select * exclude (source_line) from raw_inputs.{t} order by all").fetchall()
                for t in ("marketing_spend", "sales_targets")}


def test_loads_both_files(tmp_path):
    (tmp_path / "marketing_spend.csv").write_text(SPEND, encoding="utf-8")
    (tmp_path / "sales_targets.csv").write_text("\ufeff" + TARGETS, encoding="utf-8")  # Excel's BOM
    counts = load_user_inputs(tmp_path, warehouse=tmp_path / "w.duckdb")
    assert counts == {"marketing_spend": 3, "sales_targets": 2}
    assert _tables(tmp_path / "w.duckdb") == {
        "marketing_spend": [(date(2026, 1, 1), "Yandex", Decimal("180000.00")),
                            (date(2026, 1, 1), "vk", Decimal("25000.50")),
                            (date(2026, 2, 1), "yandex", Decimal("0.00"))],
        "sales_targets": [(date(2026, 1, 1), "7700002", None, 5),
                          (date(2026, 1, 1), "Анна Смирнова", Decimal("1500000.00"), None)],
    }


def test_missing_files_mean_no_spend_and_no_targets(tmp_path):
    assert load_user_inputs(tmp_path, warehouse=tmp_path / "w.duckdb") == {"marketing_spend": 0, "sales_targets": 0}
    assert _tables(tmp_path / "w.duckdb") == {"marketing_spend": [], "sales_targets": []}


@pytest.mark.parametrize("file_name, content, line, problem", [
    ("marketing_spend.csv", "", 1, "the header is missing"),
    ("marketing_spend.csv", "month,channel\n2026-01,vk\n", 1, "missing column(s) amount"),
    ("marketing_spend.csv", "month,channel,amount\n2026-13,vk,10\n", 2, "month '2026-13' is not a real date"),
    ("marketing_spend.csv", "month,channel,amount\n01.2026,vk,10\n", 2, "is not YYYY-MM or YYYY-MM-DD"),
    ("marketing_spend.csv", "month,channel,amount\n2026-01,vk,10\n2026-02,vk,-5\n", 3, "amount: '-5' is not an amount"),
    ("marketing_spend.csv", "month,channel,amount\n2026-01,vk,\"1 000,50\"\n", 2, "'.' as the decimal point"),
    ("marketing_spend.csv", "month,channel,amount\n2026-01,,10\n", 2, "channel is empty"),
    ("marketing_spend.csv", "month,channel,amount\n2026-01,vk,10,extra\n", 2, "4 values for 3 columns"),
    ("sales_targets.csv", "month,manager,target_revenue,target_deals\n2026-01,7700002,,\n", 2,
     "set at least one of target_revenue, target_deals"),
    ("sales_targets.csv", "month,manager,target_revenue,target_deals\n2026-01,7700002,10,1.5\n", 2,
     "target_deals: '1.5' is not a whole number"),
    ("sales_targets.csv", "month,manager,target_revenue,target_deals\n2026-01,7700002,10,1\n2026-01-31,7700002,5,1\n",
     3, "month 2026-01-01, manager 7700002 is already on line 2"),
])
def test_malformed_file_names_file_line_and_problem_and_writes_nothing(tmp_path, file_name, content, line, problem):
    warehouse = tmp_path / "w.duckdb"
    (tmp_path / "marketing_spend.csv").write_text(SPEND, encoding="utf-8")
    load_user_inputs(tmp_path, warehouse=warehouse)
    before = _tables(warehouse)
    (tmp_path / file_name).write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError) as error:
        load_user_inputs(tmp_path, warehouse=warehouse)
    assert error.value.path == tmp_path / file_name
    assert error.value.line == line
    assert problem in error.value.problem
    assert str(error.value).startswith(f"{tmp_path / file_name}, line {line}: ")
    assert _tables(warehouse) == before


def test_not_utf8_is_reported(tmp_path):
    (tmp_path / "marketing_spend.csv").write_bytes("month,channel,amount\n2026-01,Яндекс,1\n".encode("cp1251"))
    with pytest.raises(InputFileError, match="is not UTF-8 text"):
        load_user_inputs(tmp_path, warehouse=tmp_path / "w.duckdb")


def test_committed_examples_load_and_name_the_embedded_accounts_managers(tmp_path):
    from pipelines.amocrm import embedded
    from pipelines.simulator import SimulatedAccount

    examples = Path(__file__).resolve().parents[2] / "data" / "demo"
    counts = load_user_inputs(examples, warehouse=tmp_path / "w.duckdb")
    assert counts["marketing_spend"] > 0 and counts["sales_targets"] > 0
    users = SimulatedAccount.generate(seed=embedded.SEED, leads=50).truth().users
    known = set(users["name"]) | {str(i) for i in users["id"]}
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as connection:
        managers = {m for (m,) in connection.execute("select distinct manager from raw_inputs.sales_targets").fetchall()}
    assert managers <= known
