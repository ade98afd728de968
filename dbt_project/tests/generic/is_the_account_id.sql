{#- Fails on every row whose `column_name` is null or is not the id of a row of raw_amocrm.account:
    each raw row carries the id of the amoCRM account it was read from. -#}
{% test is_the_account_id(model, column_name) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} is null
    or {{ column_name }} not in (select id from {{ source('raw_amocrm', 'account') }})

{% endtest %}
