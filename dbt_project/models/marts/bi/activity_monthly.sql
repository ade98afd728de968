{{ bi_one_grain('fct_manager_activity', 'month', by_pipeline=false) }}
