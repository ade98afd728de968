"""What `make demo` prints for a failed or warned check: never a bare name with nothing after it."""

import dagster as dg

from pipelines.job_console import _why


def _evaluation(description=None, metadata=None) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(asset_key=dg.AssetKey(["intermediate", "int_activity_attribution"]),
                                   check_name="column_warnings_int_activity_attribution", passed=False,
                                   severity=dg.AssetCheckSeverity.WARN, description=description,
                                   metadata=metadata or {})


def test_a_check_with_words_of_its_own_says_them():
    assert _why(_evaluation("On 2026-11-30 only 10% of new leads were answered")) == \
        "On 2026-11-30 only 10% of new leads were answered"


def test_a_dbt_test_without_words_says_how_many_rows_break_it_and_where_its_rule_is():
    why = _why(_evaluation(metadata={"dagster_dbt/failed_row_count": 3}))
    assert why.startswith("3 rows break it") and "dbt" in why
    assert _why(_evaluation()).startswith("it failed")
