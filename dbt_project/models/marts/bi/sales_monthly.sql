{{ bi_sales_kpi('month') }}
