{{ bi_one_grain('fct_lost_deals', 'day', stage_prefix='lost_at_') }}
