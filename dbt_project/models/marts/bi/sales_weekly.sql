{{ bi_one_grain('fct_sales_kpi', 'week') }}
