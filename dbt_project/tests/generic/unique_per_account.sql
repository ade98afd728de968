{#- Fails on every (account_id, `column_name`) that occurs more than once: amoCRM ids are unique only
    within an account, so two accounts may share an id. -#}
{% test unique_per_account(model, column_name) %}

select
    account_id,
    {{ column_name }},
    count(*) as occurrences
from {{ model }}
where {{ column_name }} is not null
group by account_id, {{ column_name }}
having count(*) > 1

{% endtest %}
