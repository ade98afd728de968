{#- dbt's `test` materialization without a transaction: the test's one select runs in DuckDB's autocommit
    (statement's auto_begin=False), so dbt sends no BEGIN before it and no ROLLBACK when it releases the
    connection. A test only reads; the transaction held nothing to undo. Each of the ~130 tests of a daily
    build spared two round trips and their log events (≈ 4 of dbt's GIL-serial Python ms each: README
    "Check"). The result is dbt's own (get_test_sql: failures, should_warn, should_error), so fail_calc,
    warn_if, error_if, limit and severity work as before. Storing failures (`--store-failures`,
    `store_failures: true`) writes a table, so it keeps dbt's default materialization. -#}
{%- materialization test, default -%}
  {%- if should_store_failures() -%}
    {{ return(dbt.materialization_test_default()) }}
  {%- endif -%}
  {%- call statement('main', fetch_result=True, auto_begin=False) -%}
    {{ get_test_sql(get_limit_subquery_sql(sql, config.get('limit')), config.get('fail_calc'),
                    config.get('warn_if'), config.get('error_if'), limit=none) }}
  {%- endcall -%}
  {{ return({'relations': []}) }}
{%- endmaterialization -%}
