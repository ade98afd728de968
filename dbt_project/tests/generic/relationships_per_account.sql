{#- Fails on every row whose `column_name` is not a `field` of `to` in the same account: ids repeat
    across accounts, so a reference only resolves within its own account_id. -#}
{% test relationships_per_account(model, column_name, to, field) %}

with children as (
    select account_id, {{ column_name }} as ref_id
    from {{ model }}
    where {{ column_name }} is not null
),

parents as (
    select account_id, {{ field }} as ref_id
    from {{ to }}
)

select children.account_id, children.ref_id
from children
left join parents
    on parents.account_id = children.account_id
    and parents.ref_id = children.ref_id
where parents.ref_id is null

{% endtest %}
