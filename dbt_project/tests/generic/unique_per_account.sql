{#- Fails on every (account_id, `column_name`) that occurs more than once: amoCRM ids are unique only
    within an account, so two accounts may share an id. Rows with a null `column_name` are not checked.
    (macros/duplicate_keys.sql: why a hash first.) -#}
{% test unique_per_account(model, column_name) %}

{{ duplicate_keys(model, ['account_id', column_name], where=column_name ~ ' is not null') }}

{% endtest %}
