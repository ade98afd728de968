"""pipelines/inputs.py: user CSV files -> raw_inputs.* (Excel's formats read, missing/empty = no rows,
malformed or ambiguous = a clear error and nothing written)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines.inputs import InputFileError, load_user_inputs

SPEND = "month,channel,amount\n2026-01,Yandex,180000\n2026-01-15,vk,25000.5\n\n2026-02,yandex,0\n"
TARGETS = "month,manager,target_revenue,target_deals\n2026-01,Анна Смирнова,1500000,\n2026-01,7700002,,5\n"
SPEND_HEADER = "month,channel,amount\n"
TARGETS_HEADER = "month,manager,target_revenue,target_deals\n"


def _tables(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return {t: connection.execute(f"select * exclude (source_line, account) from raw_inputs.{t} order by all").fetchall()
                for t in ("marketing_spend", "sales_targets")}


def test_loads_both_files(tmp_path):
    (tmp_path / "marketing_spend.csv").write_text(SPEND, encoding="utf-8")
    (tmp_path / "sales_targets.csv").write_text("\ufeff" + TARGETS, encoding="utf-8")  # Excel's BOM
    loaded = load_user_inputs(tmp_path, warehouse=tmp_path / "w.duckdb")
    assert loaded.rows == {"marketing_spend": 3, "sales_targets": 2} and loaded.warnings == []
    assert _tables(tmp_path / "w.duckdb") == {
        "marketing_spend": [(date(2026, 1, 1), "Yandex", Decimal("180000.00")),
                            (date(2026, 1, 1), "vk", Decimal("25000.50")),
                            (date(2026, 2, 1), "yandex", Decimal("0.00"))],
        "sales_targets": [(date(2026, 1, 1), "7700002", None, 5),
                          (date(2026, 1, 1), "Анна Смирнова", Decimal("1500000.00"), None)],
    }


def test_reads_files_as_russian_excel_saves_them(tmp_path):
    """`;` between values, decimal commas, (no-break) spaces between thousands, a BOM, CRLF, dates as
    Excel reformats them, trailing empty cells."""
    (tmp_path / "marketing_spend.csv").write_bytes(
        "\ufeffMonth;Channel;Amount\r\n"
        "2026-01;Yandex;1\u00a0000,50\r\n"
        "01.02.2026;vk;\"2\u202f500\"\r\n"
        "03.2026;google;125 000;;\r\n"
        "2026-04;avito;7,5\r\n".encode("utf-8"))
    (tmp_path / "sales_targets.csv").write_text(
        "month;manager;target_revenue;target_deals\n2026-01;Анна Смирнова;1 500 000,00;4\n", encoding="utf-8")
    assert load_user_inputs(tmp_path, warehouse=tmp_path / "w.duckdb").rows == {"marketing_spend": 4,
                                                                                 "sales_targets": 1}
    assert _tables(tmp_path / "w.duckdb") == {
        "marketing_spend": [(date(2026, 1, 1), "Yandex", Decimal("1000.50")),
                            (date(2026, 2, 1), "vk", Decimal("2500.00")),
                            (date(2026, 3, 1), "google", Decimal("125000.00")),
                            (date(2026, 4, 1), "avito", Decimal("7.50"))],
        "sales_targets": [(date(2026, 1, 1), "Анна Смирнова", Decimal("1500000.00"), 4)],
    }


def test_missing_files_mean_no_spend_and_no_targets(tmp_path):
    loaded = load_user_inputs(tmp_path, warehouse=tmp_path / "w.duckdb")
    assert loaded.rows == {"marketing_spend": 0, "sales_targets": 0} and loaded.warnings == []
    assert _tables(tmp_path / "w.duckdb") == {"marketing_spend": [], "sales_targets": []}


@pytest.mark.parametrize("content, says", [(b"", "is empty"), (TARGETS_HEADER.encode(), "has a header and no rows"),
                                           (b"\xef\xbb\xbf\r\n", "is empty")])
def test_an_empty_file_means_no_rows_with_a_warning(tmp_path, content, says):
    warehouse = tmp_path / "w.duckdb"
    (tmp_path / "marketing_spend.csv").write_text(SPEND, encoding="utf-8")
    (tmp_path / "sales_targets.csv").write_text(TARGETS, encoding="utf-8")
    load_user_inputs(tmp_path, warehouse=warehouse)
    (tmp_path / "sales_targets.csv").write_bytes(content)
    loaded = load_user_inputs(tmp_path, warehouse=warehouse)
    assert loaded.rows == {"marketing_spend": 3, "sales_targets": 0}
    assert loaded.warnings == [f"{tmp_path / 'sales_targets.csv'} {says}: loaded as no rows"]
    assert _tables(warehouse)["sales_targets"] == []


@pytest.mark.parametrize("file_name, content, line, problem", [
    ("marketing_spend.csv", "month,channel\n2026-01,vk\n", 1,
     "lacks the column(s) amount; expected the columns month, channel, amount separated by ',' or ';'"),
    ("marketing_spend.csv", "month\tchannel\tamount\n2026-01\tvk\t1\n", 1, "separated by ',' or ';'"),
    ("marketing_spend.csv", "month,channel,amount\n2026-13,vk,10\n", 2, "column month: '2026-13' is not a real date"),
    ("marketing_spend.csv", "month,channel,amount\n01/02/2026,vk,10\n", 2,
     "column month: '01/02/2026' is not a month; write YYYY-MM, YYYY-MM-DD or DD.MM.YYYY"),
    ("marketing_spend.csv", "month,channel,amount\n2026-01,vk,10\n2026-02,vk,-5\n", 3,
     "column amount: '-5' is not an amount >= 0; write e.g. 125000, 95000.50 or 1 000,50"),
    ("marketing_spend.csv", "month;channel;amount\n2026-01;vk;1,000\n", 2,
     "column amount: '1,000' is ambiguous (a thousands separator or a decimal point?)"),
    ("marketing_spend.csv", "month;channel;amount\n2026-01;vk;1.000\n", 2, "'1.000' is ambiguous"),
    ("marketing_spend.csv", "month;channel;amount\n2026-01;vk;1,000.50\n", 2, "'1,000.50' is not an amount"),
    ("marketing_spend.csv", "month;channel;amount\n2026-01;vk;10 00\n", 2, "'10 00' is not an amount"),
    ("marketing_spend.csv", "month;channel;amount\n2026-01;vk;100 ₽\n", 2, "'100 ₽' is not an amount"),
    ("marketing_spend.csv", "month,channel,amount\n2026-01,,10\n", 2, "column channel is empty"),
    ("marketing_spend.csv", "month,channel,amount\n2026-01,vk,1000,50\n", 2,
     "4 values for 3 columns; with ',' between values a decimal comma must be quoted"),
    ("marketing_spend.csv", "month;channel;amount\n2026-01;vk;10;x\n", 2, "4 values for 3 columns"),
    ("marketing_spend.csv", "month,channel,amount\n2026-01,Yandex,10\n2026-02,vk,1\n2026-01-31,yandex ,5\n", 4,
     "month 2026-01-01, channel yandex is already on line 2: keep one row per month and channel"),
    ("sales_targets.csv", "month,manager,target_revenue,target_deals\n2026-01,7700002,,\n", 2,
     "set at least one of target_revenue, target_deals"),
    ("sales_targets.csv", "month,manager,target_revenue,target_deals\n2026-01,7700002,10,1.5\n", 2,
     "column target_deals: '1.5' is not a whole number"),
    ("sales_targets.csv", "month;manager;target_revenue;target_deals\n2026-01;7700002;10;1\n01.01.2026;7700002;5;1\n",
     3, "month 2026-01-01, manager 7700002 is already on line 2: keep one row per month and manager"),
])
def test_malformed_file_names_file_line_column_value_and_form_and_writes_nothing(tmp_path, file_name, content,
                                                                                 line, problem):
    warehouse = tmp_path / "w.duckdb"
    (tmp_path / "marketing_spend.csv").write_text(SPEND, encoding="utf-8")
    (tmp_path / "sales_targets.csv").write_text(TARGETS, encoding="utf-8")
    load_user_inputs(tmp_path, warehouse=warehouse)
    before = _tables(warehouse)
    (tmp_path / file_name).write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError) as error:
        load_user_inputs(tmp_path, warehouse=warehouse)
    assert error.value.path == tmp_path / file_name
    assert error.value.line == line
    assert problem in error.value.problem
    assert str(error.value).startswith(f"{tmp_path / file_name}, line {line}: ")
    assert _tables(warehouse) == before  # the other file, valid, is not loaded either


def test_windows_1251_is_refused_with_how_to_save_it(tmp_path):
    (tmp_path / "marketing_spend.csv").write_bytes("month;channel;amount\n2026-01;Яндекс;1\n".encode("cp1251"))
    with pytest.raises(InputFileError) as error:
        load_user_inputs(tmp_path, warehouse=tmp_path / "w.duckdb")
    assert error.value.line == 2
    assert "is not UTF-8 text (byte 0xDF)" in error.value.problem and "save it as 'CSV UTF-8'" in error.value.problem


def test_committed_examples_load_and_name_the_embedded_accounts_managers(tmp_path):
    from pipelines.amocrm import embedded
    from pipelines.simulator import SimulatedAccount

    examples = Path(__file__).resolve().parents[2] / "data" / "demo"
    loaded = load_user_inputs(examples, warehouse=tmp_path / "w.duckdb")
    assert loaded.rows["marketing_spend"] > 0 and loaded.rows["sales_targets"] > 0 and loaded.warnings == []
    users = SimulatedAccount.generate(seed=embedded.SEED, leads=50).truth().users
    known = set(users["name"]) | {str(i) for i in users["id"]}
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as connection:
        managers = {m for (m,) in connection.execute("select distinct manager from raw_inputs.sales_targets").fetchall()}
    assert managers <= known


def _warehouse_with_accounts(path: Path, accounts: list[tuple[int, str]]) -> Path:
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema raw_amocrm")
        connection.execute("create table raw_amocrm.account (id bigint, subdomain varchar)")
        connection.executemany("insert into raw_amocrm.account values (?, ?)", accounts)
    return path


def test_the_account_column_names_each_rows_account_by_subdomain_or_id(tmp_path):
    warehouse = _warehouse_with_accounts(tmp_path / "w.duckdb", [(29000001, "simulated"), (29000002, "east")])
    (tmp_path / "marketing_spend.csv").write_text(
        "account,month,channel,amount\nSimulated,2026-01,yandex,100\neast,2026-01,yandex,200\n", encoding="utf-8")
    (tmp_path / "sales_targets.csv").write_text(
        "month,manager,target_revenue,target_deals,account\n2026-01,7700002,1000,,29000002\n", encoding="utf-8")
    assert load_user_inputs(tmp_path, warehouse=warehouse).rows == {"marketing_spend": 2, "sales_targets": 1}
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        assert connection.execute("select account, amount from raw_inputs.marketing_spend order by amount").fetchall() \
            == [("Simulated", Decimal("100.00")), ("east", Decimal("200.00"))]


@pytest.mark.parametrize("spend, problem", [
    ("month,channel,amount\n2026-01,yandex,100\n",
     "line 2: column account is empty, but the warehouse holds 2 amoCRM accounts: simulated (id 29000001), "
     "east (id 29000002)"),
    ("account,month,channel,amount\neast,2026-01,yandex,100\nEAST,2026-01,Yandex,5\n",
     "line 3: account east, month 2026-01-01, channel yandex is already on line 2"),
    ("account,month,channel,amount\nwest,2026-01,yandex,100\n",
     "line 2: column account: 'west' is not an account in the warehouse"),
])
def test_with_several_accounts_each_row_must_name_a_known_account(tmp_path, spend, problem):
    warehouse = _warehouse_with_accounts(tmp_path / "w.duckdb", [(29000001, "simulated"), (29000002, "east")])
    (tmp_path / "marketing_spend.csv").write_text(spend, encoding="utf-8")
    with pytest.raises(InputFileError) as raised:
        load_user_inputs(tmp_path, warehouse=warehouse)
    assert problem in str(raised.value)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        assert not connection.execute("select count(*) from information_schema.tables "
                                      "where table_schema = 'raw_inputs'").fetchone()[0], "nothing written"
