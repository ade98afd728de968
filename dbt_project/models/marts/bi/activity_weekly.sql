{{ bi_one_grain('fct_manager_activity', 'week', by_pipeline=false) }}
