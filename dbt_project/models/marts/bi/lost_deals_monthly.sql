{{ bi_one_grain('fct_lost_deals', 'month', stage_prefix='lost_at_') }}
