{#- Post-hook of int_extraction: a dbt warning naming each account whose extraction time the legacy rule
    gave (no `raw_amocrm.extractions` row names its newest load), and the load it was dated by, with what
    to do. The warn test `extraction_time_named_by_extractions` counts the same rows for Dagster. -#}
{% macro warn_on_legacy_extraction_rule() %}
    {%- if execute %}
        {%- set legacy = run_query(
            "select account_id, extracted_at_rule, extracted_load_id, cast(extracted_at as varchar) from "
            ~ this ~ " where extracted_at_rule <> 'extractions' order by account_id") %}
        {%- if legacy.rows | length > 0 %}
            {%- set named = [] %}
            {%- for row in legacy.rows %}
                {%- do named.append("account " ~ row[0] ~ " by load " ~ row[2] ~ " (" ~ row[3] ~ ", rule "
                                    ~ row[1] ~ ")") %}
            {%- endfor %}
            {%- do exceptions.warn(
                "int_extraction: raw_amocrm.extractions names no newest load of " ~ (legacy.rows | length)
                ~ " account(s), so their extraction time (dim_accounts.extracted_at, the 'now' of their KPIs)"
                ~ " comes from the legacy rule: " ~ (named | join('; ')) ~ ". Rule reference_tables: the load"
                ~ " that last rewrote the account's row or users; only_account: the newest load of the warehouse."
                ~ " A warehouse loaded before the extractions table existed shows this until each account is"
                ~ " extracted again (python -m pipelines.amocrm --account KEY, or its Dagster partition); if it"
                ~ " persists after that, a load was written without its extractions row: report it.") %}
        {%- endif %}
    {%- endif %}
    select 1
{%- endmacro %}
