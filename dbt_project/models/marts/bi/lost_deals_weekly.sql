{{ bi_one_grain('fct_lost_deals', 'week', stage_prefix='lost_at_') }}
