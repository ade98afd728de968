"""Every word the report shows, in Russian and English (the account's language picks one)."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "ru": {
        "title": "KPI отдела продаж",
        "previous_period": "Предыдущий период",
        "month_progress": "Прошло {elapsed} месяца",
        "generated": "Сформирован",
        "simulated_source": "демо: смоделированный аккаунт",
        "timezone": "часовой пояс",
        "account": "Аккаунт",
        "data_as_of": "данные на",
        "view": "Разрез",
        "whole_account": "Весь аккаунт",
        "pipelines": "Воронки",
        "managers": "Менеджеры",
        "pipeline": "Воронка",
        "manager": "Менеджер",
        "user": "Пользователь",
        "grain": "Шаг",
        "grain_day": "Дни",
        "grain_week": "Недели",
        "grain_month": "Месяцы",
        "week_of": "Неделя с",
        "headline": "Итоги месяца",
        "forecast": "Прогноз на месяц",
        "trends": "Динамика",
        "funnel": "Воронка продаж",
        "losses": "Причины и этапы потерь",
        "cac_section": "Стоимость привлечения клиента (CAC)",
        "deals_won": "Успешные сделки",
        "revenue_won": "Выручка",
        "avg_deal_value": "Средний чек",
        "win_rate": "Доля выигранных",
        "sales_cycle_days": "Цикл сделки (среднее)",
        "cac": "CAC",
        "nps": "NPS",
        "leads_created": "Новые сделки",
        "deals_lost": "Проигранные сделки",
        "open_deals": "Открытые сделки",
        "open_value": "Сумма открытых сделок",
        "weighted_value": "Взвешенный прогноз",
        "month_to_date_revenue": "Выручка с начала месяца",
        "month_run_rate": "Прогноз выручки по темпу",
        "not_available": "н/д",
        "points": "п.п.",
        "no_data": "Нет данных за период",
        "whole_account_note": "по всему аккаунту",
        "all_channels_note": "все каналы",
        "stage": "Этап",
        "reached": "Дошли",
        "of_first": "от входа",
        "to_next": "Конверсия в след. этап",
        "lost_here": "Потеряно на этапе",
        "time_median": "Время на этапе, медиана",
        "time_p90": "90-й перцентиль",
        "open_now": "Сейчас на этапе",
        "stale": "Из них дольше {days} дн.",
        "biggest_drop": "наибольший отток",
        "slowest": "дольше всего",
        "funnel_note": (
            "Сделки, созданные с {since}. Этап считается пройденным, если сделка была на нём или дальше; "
            "время на этапе — медианы месячных когорт, усреднённые с весом по числу сделок. "
            "«Сейчас на этапе» — все открытые сделки; «дольше {days} дн.» — с даты создания."
        ),
        "funnel_manager_note": "Воронка не делится по менеджерам: показан весь аккаунт.",
        "by_reason": "По причинам",
        "by_stage": "По этапам",
        "reason": "Причина",
        "deals": "Сделки",
        "value": "Сумма",
        "not_specified": "Не указана",
        "unknown_stage": "Этап неизвестен",
        "other": "Прочие",
        "other_managers": "Остальные ({n})",
        "total": "Итого",
        "group": "Отдел",
        "calls": "Звонки",
        "meetings": "Встречи",
        "messages": "Сообщения",
        "plan_revenue": "План по выручке",
        "plan_deals": "План по сделкам",
        "inactive": "неактивен",
        "managers_note": (
            "Все воронки; звонки — входящие и исходящие. План зелёный, если выполнен не меньше, "
            "чем прошло месяца ({elapsed})."
        ),
        "channel": "Канал",
        "marketing_spend": "Расходы",
        "new_customers": "Новые клиенты",
        "cac_note": "CAC = расходы / новые клиенты (первая успешная сделка контакта или компании).",
        "definitions": (
            "Доля выигранных = успешные / (успешные + проигранные) за период. Средний чек = выручка / успешные сделки. "
            "Цикл сделки — дни от создания до успешного закрытия. NPS = % оценок 9–10 − % оценок 0–6. "
            "Удалённые сделки не учитываются. Все даты — в часовом поясе аккаунта."
        ),
        "current_period": "текущий период, не закончен",
        "no_data_yet": "Данных пока нет",
        "no_data_missing": "в опубликованной копии нет таблицы {table}. Её строит dbt: запустите ежедневное задание (make demo или расписание Dagster), и раздел заполнится",
        "no_data_columns": "в таблице {table} нет столбцов {columns}: она построена старой версией. Перестройте её: запустите ежедневное задание",
        "no_data_empty": "таблица {table} пока пуста за этот период",
        "unassigned": "Без ответственного",
        "response_section": "Скорость реакции",
        "response_note": (
            "Новые сделки этого месяца по текущему ответственному. Реакция — первый исходящий звонок, письмо или "
            "сообщение сотрудника (не робота) по сделке или её контакту. Доля в SLA — ответившие в срок из тех, "
            "чей срок уже прошёл (срок — {sla}). Медиана по нескольким "
            "воронкам — медианы воронок, усреднённые с весом по числу ответов."
        ),
        "sla_share": "Доля в SLA",
        "sla_within": "Ответ за {sla}",
        "sla_var": "переменная dbt amocrm_response_sla_minutes",
        "summary_response": ("Скорость реакции, {month}: в срок ({sla}) ответили {share}, {within} из {elapsed} ({previous_month}: {previous}); "
                             "медиана первого ответа {median}"),
        "summary_hygiene": ("Открытые сделки на {when}: {open}; без следующей задачи {no_task}, "
                            "с просроченной задачей {overdue}, зависли в этапе {stuck}"),
        "leads_responded": "С ответом",
        "first_response_median": "Первый ответ, медиана",
        "first_response_time": "Время до первого ответа",
        "touches_24h_per_lead": "Касаний за 24 ч на сделку",
        "leads_without_touch_14d": "Без касаний 14 дн.",
        "hygiene_section": "Утренний чек-лист",
        "hygiene_note": (
            "Открытые сделки по ответственному на момент выгрузки {when}; в скобках — доля от открытых. "
            "«Зависла» — на этапе дольше 90-го перцентиля прошлых сделок этого этапа."
        ),
        "hygiene_stale": (
            "Снимок устарел на {days} дн.: ежедневное задание давно не обновляло данные. Проверьте запуски в Dagster "
            "(make ui → Runs) и оповещения."
        ),
        "open_without_next_task": "Без задачи",
        "open_with_overdue_task": "Просрочена задача",
        "stuck_deals": "Зависли",
        "open_without_price": "Без бюджета",
        "open_without_contact": "Без контакта",
        "open_missing_required": "Не заполнены обяз. поля",
        "pipeline_section": "Открытые сделки по дням",
        "pipeline_daily_note": (
            "Открытые сделки на конец каждого дня по этапам, последний день — {latest}. Сумма — текущий бюджет "
            "сделки (история бюджета в amoCRM не хранится); ответственный — текущий. Таблица: последний день и "
            "{days} дн. назад."
        ),
        "open_days_before": "{days} дн. назад",
        "breakdown_section": "Разбивки",
        "breakdown_choice": "Разбить по",
        "breakdown_note": (
            "{month}, все воронки. Сделка с несколькими тегами (или значениями поля) считается в каждом, "
            "поэтому строки не складываются в итог аккаунта."
        ),
        "breakdown_more": "и ещё значений: {n}",
        "dimension_tag": "Тег",
        "dimension_channel": "Канал",
        "value_not_specified": "Не указано",
        "currency": "Валюта",
    },
    "en": {
        "title": "Sales KPI",
        "previous_period": "Previous period",
        "month_progress": "{elapsed} of the month gone",
        "generated": "Generated",
        "simulated_source": "demo: simulated account",
        "timezone": "time zone",
        "account": "Account",
        "data_as_of": "data as of",
        "view": "View",
        "whole_account": "Whole account",
        "pipelines": "Pipelines",
        "managers": "Managers",
        "pipeline": "Pipeline",
        "manager": "Manager",
        "user": "User",
        "grain": "Step",
        "grain_day": "Days",
        "grain_week": "Weeks",
        "grain_month": "Months",
        "week_of": "Week of",
        "headline": "This month",
        "forecast": "Month forecast",
        "trends": "Trends",
        "funnel": "Sales funnel",
        "losses": "Lost deals: reasons and stages",
        "cac_section": "Customer acquisition cost (CAC)",
        "deals_won": "Deals won",
        "revenue_won": "Revenue",
        "avg_deal_value": "Average deal",
        "win_rate": "Win rate",
        "sales_cycle_days": "Sales cycle (mean)",
        "cac": "CAC",
        "nps": "NPS",
        "leads_created": "New leads",
        "deals_lost": "Deals lost",
        "open_deals": "Open deals",
        "open_value": "Open pipeline value",
        "weighted_value": "Weighted forecast",
        "month_to_date_revenue": "Revenue month to date",
        "month_run_rate": "Run-rate projection",
        "not_available": "n/a",
        "points": "pp",
        "no_data": "No data for this period",
        "whole_account_note": "whole account",
        "all_channels_note": "all channels",
        "stage": "Stage",
        "reached": "Reached",
        "of_first": "of entry",
        "to_next": "To next stage",
        "lost_here": "Lost here",
        "time_median": "Time in stage, median",
        "time_p90": "90th percentile",
        "open_now": "In stage now",
        "stale": "Of them > {days} d",
        "biggest_drop": "biggest drop",
        "slowest": "slowest",
        "funnel_note": (
            "Leads created since {since}. A stage counts as reached when the lead was in it or any later stage; "
            "time in stage: monthly cohort medians averaged, weighted by leads. "
            "\"In stage now\" counts every open deal; \"> {days} d\" is measured from creation."
        ),
        "funnel_manager_note": "The funnel is not split by manager: the whole account is shown.",
        "by_reason": "By reason",
        "by_stage": "By stage",
        "reason": "Reason",
        "deals": "Deals",
        "value": "Value",
        "not_specified": "Not specified",
        "unknown_stage": "Unknown stage",
        "other": "Other",
        "other_managers": "Others ({n})",
        "total": "Total",
        "group": "Team",
        "calls": "Calls",
        "meetings": "Meetings",
        "messages": "Messages",
        "plan_revenue": "Revenue plan",
        "plan_deals": "Deals plan",
        "inactive": "inactive",
        "managers_note": (
            "All pipelines; calls are incoming plus outgoing. A plan is green when it is at least "
            "as done as the month is ({elapsed})."
        ),
        "channel": "Channel",
        "marketing_spend": "Spend",
        "new_customers": "New customers",
        "cac_note": "CAC = spend / new customers (a contact's or company's first won deal).",
        "definitions": (
            "Win rate = won / (won + lost) in the period. Average deal = revenue / deals won. "
            "Sales cycle: days from creation to a win. NPS = % of scores 9–10 − % of scores 0–6. "
            "Deleted leads are excluded. All dates are in the account's time zone."
        ),
        "current_period": "current period, not over yet",
        "no_data_yet": "No data yet",
        "no_data_missing": "the published copy has no table {table}. dbt builds it: run the daily job (make demo, or the Dagster schedule) and this section fills in",
        "no_data_columns": "table {table} lacks columns {columns}: an older version built it. Rebuild it: run the daily job",
        "no_data_empty": "table {table} has no rows for this period yet",
        "unassigned": "Unassigned",
        "response_section": "Response speed",
        "response_note": (
            "This month's new leads, by current responsible user. A response is the first outgoing call, e-mail or "
            "message by a user (not a robot) on the lead or its contact. SLA share: answered in time out of those "
            "whose SLA ({sla}) has elapsed. A median over several pipelines is the "
            "pipelines' medians weighted by their answered leads."
        ),
        "sla_share": "Within SLA",
        "sla_within": "Within {sla}",
        "sla_var": "dbt var amocrm_response_sla_minutes",
        "summary_response": ("Response speed, {month}: {share} answered in time ({sla}), {within} of {elapsed} ({previous_month}: {previous}); "
                             "median first response {median}"),
        "summary_hygiene": ("Open deals as of {when}: {open}; without a next task {no_task}, "
                            "with an overdue task {overdue}, stuck in their stage {stuck}"),
        "leads_responded": "Answered",
        "first_response_median": "First response, median",
        "first_response_time": "Time to first response",
        "touches_24h_per_lead": "Touches in 24 h per lead",
        "leads_without_touch_14d": "No touch in 14 d",
        "hygiene_section": "Morning checklist",
        "hygiene_note": (
            "Open deals per responsible user as of the extraction {when}; in brackets, the share of open deals. "
            "Stuck: in the stage longer than the 90th percentile of past stays there."
        ),
        "hygiene_stale": (
            "The snapshot is {days} days old: the daily job has not refreshed the data. Check the runs in Dagster "
            "(make ui → Runs) and the alerts."
        ),
        "open_without_next_task": "No next task",
        "open_with_overdue_task": "Overdue task",
        "stuck_deals": "Stuck",
        "open_without_price": "No price",
        "open_without_contact": "No contact",
        "open_missing_required": "Required fields empty",
        "pipeline_section": "Open pipeline over time",
        "pipeline_daily_note": (
            "Open deals at the end of each day per stage, the latest day {latest}. The amount is the deal's "
            "current price (amoCRM keeps no price history); the manager is the current one. Table: the latest "
            "day and {days} days before."
        ),
        "open_days_before": "{days} days before",
        "breakdown_section": "Breakdowns",
        "breakdown_choice": "Break down by",
        "breakdown_note": (
            "{month}, all pipelines. A lead with several tags (or field values) counts under each, so the rows "
            "do not add up to the account's total."
        ),
        "breakdown_more": "and {n} more values",
        "dimension_tag": "Tag",
        "dimension_channel": "Channel",
        "value_not_specified": "Not specified",
        "currency": "Currency",
    },
}
