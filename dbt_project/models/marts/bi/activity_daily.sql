{{ bi_one_grain('fct_manager_activity', 'day', by_pipeline=false) }}
