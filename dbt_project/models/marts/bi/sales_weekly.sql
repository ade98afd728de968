{{ bi_sales_kpi('week') }}
