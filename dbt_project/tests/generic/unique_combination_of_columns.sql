{#- Fails on every combination of `combination_of_columns` that occurs more than once (nulls compare equal).
    (macros/duplicate_keys.sql: why a hash first.) -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

{{ duplicate_keys(model, combination_of_columns) }}

{% endtest %}
