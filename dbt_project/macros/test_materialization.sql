{#-
  Data tests run their one read-only query outside a transaction (auto_begin=False), instead of dbt's default
  BEGIN, query, and a ROLLBACK when the connection is released: 2 round trips less a test, each costing dbt
  serial Python and log events, for each of the ~130 tests of a build. DuckDB runs a lone query in its own
  snapshot, so a test still sees one consistent state of the warehouse. The query is dbt's own (get_test_sql with
  the test's limit, fail_calc, warn_if and error_if), so results and messages are unchanged. A test that stores its
  failures (store_failures) writes a relation: it runs dbt's default test materialization unchanged.
-#}
{%- materialization test, adapter='duckdb' -%}
    {%- if should_store_failures() -%}
        {{ return(materialization_test_default()) }}
    {%- endif -%}
    {%- set sql_header = config.get('sql_header') if flags.REQUIRE_SQL_HEADER_IN_TEST_CONFIGS else none -%}
    {%- set main_sql = get_limit_subquery_sql(sql, config.get('limit')) -%}

    {% call statement('main', fetch_result=True, auto_begin=False) -%}
        {% if sql_header %}{{ sql_header }}{% endif %}
        {{ get_test_sql(main_sql, config.get('fail_calc'), config.get('warn_if'), config.get('error_if'), limit=none) }}
    {%- endcall %}

    {{ return({'relations': []}) }}
{%- endmaterialization -%}
