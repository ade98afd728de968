{#-
  The newest raw `_dlt_load_id` (`load_id`) already in this incremental model, optionally among the
  rows matching `condition`, as a quoted SQL literal ('' when none). Resolved while the model is
  compiled, so the filter on the raw table is a constant and DuckDB skips old row groups by their
  min/max statistics instead of re-scanning them. dlt load ids are fixed-width epoch timestamps,
  so they sort as text in load order.
-#}
{% macro loaded_watermark(condition='true') -%}
    {%- if execute and is_incremental() -%}
        {%- set query -%}
            select coalesce(max(load_id), '') from {{ this }} where {{ condition }}
        {%- endset -%}
        {%- set watermark = run_query(query).columns[0].values()[0] -%}
    {%- else -%}
        {%- set watermark = '' -%}
    {%- endif -%}
    '{{ watermark }}'
{%- endmacro %}
