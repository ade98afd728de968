"""The simulated account's fixed reference data: users, pipelines, fields, name pools.

Everything here is static and small; the generator draws lead timelines against it
and the API renders it as-is. Ids are spread over separate ranges so that a wrong
join (a status id used as a user id, say) cannot silently match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class AccountProfile:
    """Who the simulated account is: the values that differ between amoCRM accounts of the same shape.

    Everything else (users, pipelines, id ranges) is shared, so two accounts with different profiles
    have overlapping ids, as real accounts do.
    """

    account_id: int
    subdomain: str
    name: str
    timezone: str  # an IANA zone; month boundaries and `timezone_offset` follow it, DST included
    currency: str
    currency_symbol: str
    country: str = "RU"
    language: str = "ru"

    def __post_init__(self):
        if not isinstance(self.account_id, int) or self.account_id <= 0:
            raise ValueError(f"account_id must be a positive integer, got {self.account_id!r}")
        if not self.subdomain or not self.subdomain.replace("-", "").isalnum():
            raise ValueError(f"subdomain must be letters, digits and '-', got {self.subdomain!r}")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"currency must be a three-letter ISO code like RUB, got {self.currency!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r} is not an IANA zone such as Europe/Moscow") from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def utc_offset(self, at: int) -> str:
        """The zone's offset at the instant `at` (unix seconds), as amoCRM writes it: `+03:00`."""
        seconds = int(datetime.fromtimestamp(at, self.zone).utcoffset().total_seconds())
        sign, seconds = ("-" if seconds < 0 else "+"), abs(seconds)
        return f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


DEFAULT_PROFILE = AccountProfile(29_000_001, "simulated", "ООО «Симулятор»", "Europe/Moscow", "RUB", "₽")

WON, LOST = 142, 143

LEAD_ID_BASE = 20_000_001
CONTACT_ID_BASE = 40_000_001
COMPANY_ID_BASE = 60_000_001
TASK_ID_BASE = 80_000_001
NOTE_ID_BASE = 100_000_001
CUSTOMER_ID_BASE = 120_000_001  # customers appear only as the rated entity of NPS events


@dataclass(frozen=True)
class User:
    id: int
    name: str
    email: str
    group_id: int
    is_admin: bool = False
    is_active: bool = True


GROUPS = {0: "Отдел продаж", 301: "Корпоративные продажи", 302: "Розничные продажи"}

USERS = (
    User(7_700_001, "Анна Смирнова", "anna.smirnova@simulated.example", 0, is_admin=True),
    User(7_700_002, "Иван Петров", "ivan.petrov@simulated.example", 0),
    User(7_700_003, "Мария Кузнецова", "maria.kuznetsova@simulated.example", 301),
    User(7_700_004, "Дмитрий Соколов", "dmitry.sokolov@simulated.example", 301),
    User(7_700_005, "Елена Попова", "elena.popova@simulated.example", 301),
    User(7_700_006, "Алексей Лебедев", "alexey.lebedev@simulated.example", 302),
    User(7_700_007, "Ольга Новикова", "olga.novikova@simulated.example", 302),
    User(7_700_008, "Сергей Морозов", "sergey.morozov@simulated.example", 302, is_active=False),
)


def is_admin(user_id: int) -> bool:
    return any(u.id == user_id and u.is_admin for u in USERS)


# Share of new leads per user (the admin takes few); the inactive user left part-way through history.
USER_WEIGHTS = (0.04, 0.16, 0.15, 0.14, 0.13, 0.14, 0.13, 0.11)
INACTIVE_USER_LEFT_AT = 0.55  # fraction of the history span

TASK_TYPES = ((1, "Связаться", "FOLLOW_UP"), (2, "Встреча", "MEETING"), (3, "Звонок", "CALL"))
FOLLOW_UP, MEETING, CALL = 1, 2, 3


@dataclass(frozen=True)
class Pipeline:
    id: int
    name: str
    sort: int
    is_main: bool
    stages: tuple[str, ...]  # working stages between incoming and won/lost
    loss: tuple[float, ...]  # chance to be lost at incoming and at each working stage
    weight_new: float  # share of leads from new clients
    weight_repeat: float  # share of leads from returning clients

    @property
    def positions(self) -> int:
        return 1 + len(self.stages)

    def status_id(self, position: int) -> int:
        """Position 0 is the incoming (unsorted) status, 1.. the working stages."""
        return 70_000_000 + self.id % 1000 * 100 + 1 + position


PIPELINES = (
    Pipeline(8_100_001, "Продажи", 1, True,
             ("Первичный контакт", "Переговоры", "Принимают решение", "Согласование договора", "Счёт выставлен"),
             (0.20, 0.26, 0.24, 0.20, 0.14, 0.10), 0.65, 0.35),
    Pipeline(8_100_002, "Повторные продажи", 2, False,
             ("Новый запрос", "Подбор предложения", "Коммерческое предложение", "Оплата"),
             (0.17, 0.22, 0.24, 0.20, 0.10), 0.15, 0.55),
    Pipeline(8_100_003, "Тендеры", 3, False,
             ("Подготовка заявки", "Заявка подана", "Подведение итогов"),
             (0.12, 0.28, 0.32, 0.38), 0.20, 0.10),
)
INCOMING_NAME = "Неразобранное"
WON_NAME, LOST_NAME = "Успешно реализовано", "Закрыто и не реализовано"
STAGE_COLORS = ("#99ccff", "#ffff99", "#ffcc66", "#ff9999", "#ccc8f9")

LOSS_REASONS = ((9_000_001, "Дорого"), (9_000_002, "Выбрали конкурента"), (9_000_003, "Нет бюджета"),
                (9_000_004, "Не отвечает"), (9_000_005, "Неактуально"), (9_000_006, "Не устроили сроки"))
LOSS_REASON_WEIGHTS = (0.26, 0.2, 0.17, 0.15, 0.12, 0.10)
LOSS_REASON_MISSING = 0.15

SOURCES = ((5_001, "Сайт"), (5_002, "Телефония"), (5_003, "Онлайн-чат"))

UTM_VALUES = ("yandex", "google", "vk", "telegram", "referral")
UTM_WEIGHTS = (0.3, 0.2, 0.15, 0.15, 0.2)
UTM_MISSING = 0.2

TAGS = ((6_001, "vip"), (6_002, "повторный"), (6_003, "срочно"), (6_004, "опт"))

LEAD_PRODUCTS = ("Поставка оборудования", "Годовой контракт", "Внедрение CRM", "Консультация",
                 "Разработка сайта", "Обучение персонала", "Техническое обслуживание", "Аудит")


@dataclass(frozen=True)
class Field:
    entity_type: str  # leads | contacts | companies
    id: int
    name: str
    code: str | None
    type: str
    sort: int
    enums: tuple[tuple[int, str, str | None], ...] = ()  # (id, value, code)


PHONE_ENUMS = ((3_001, "WORK", "WORK"), (3_002, "WORKDD", "WORKDD"), (3_003, "MOB", "MOB"),
               (3_004, "FAX", "FAX"), (3_005, "HOME", "HOME"), (3_006, "OTHER", "OTHER"))
EMAIL_ENUMS = ((3_011, "WORK", "WORK"), (3_012, "PRIV", "PRIV"), (3_013, "OTHER", "OTHER"))

UTM_FIELD = Field("leads", 1_001_001, "utm_source", "UTM_SOURCE", "tracking_data", 10)
SATISFACTION_FIELD = Field("leads", 1_001_002, "Оценка клиента", None, "numeric", 20)
CONTACT_PHONE = Field("contacts", 1_002_001, "Телефон", "PHONE", "multitext", 4, PHONE_ENUMS)
CONTACT_EMAIL = Field("contacts", 1_002_002, "Email", "EMAIL", "multitext", 6, EMAIL_ENUMS)
CONTACT_POSITION = Field("contacts", 1_002_003, "Должность", "POSITION", "text", 2)
COMPANY_PHONE = Field("companies", 1_003_001, "Телефон", "PHONE", "multitext", 4, PHONE_ENUMS)
COMPANY_WEB = Field("companies", 1_003_002, "Web", "WEB", "url", 8)
COMPANY_ADDRESS = Field("companies", 1_003_003, "Адрес", "ADDRESS", "textarea", 10)
CITIES = ("Москва", "Санкт-Петербург", "Казань", "Новосибирск", "Екатеринбург")
CITY_FIELD = Field("leads", 1_001_003, "Город", "CITY", "select", 30,
                   tuple((3_101 + k, city, None) for k, city in enumerate(CITIES)))
PRODUCT_FIELD = Field("leads", 1_001_004, "Продукт", "PRODUCT", "multiselect", 40,
                      tuple((3_201 + k, product, None) for k, product in enumerate(LEAD_PRODUCTS)))
FIELDS = (UTM_FIELD, SATISFACTION_FIELD, CITY_FIELD, PRODUCT_FIELD, CONTACT_POSITION, CONTACT_PHONE,
          CONTACT_EMAIL, COMPANY_PHONE, COMPANY_WEB, COMPANY_ADDRESS)

FIRST_NAMES_M = (("Александр", "aleksandr"), ("Михаил", "mikhail"), ("Андрей", "andrey"), ("Павел", "pavel"),
                 ("Николай", "nikolay"), ("Артём", "artem"), ("Виктор", "viktor"), ("Роман", "roman"))
FIRST_NAMES_F = (("Екатерина", "ekaterina"), ("Наталья", "natalya"), ("Татьяна", "tatyana"), ("Юлия", "yulia"),
                 ("Ирина", "irina"), ("Светлана", "svetlana"), ("Ксения", "ksenia"), ("Дарья", "darya"))
LAST_NAMES = (("Иванов", "ivanov"), ("Смирнов", "smirnov"), ("Васильев", "vasilev"), ("Зайцев", "zaytsev"),
              ("Павлов", "pavlov"), ("Семёнов", "semenov"), ("Голубев", "golubev"), ("Виноградов", "vinogradov"),
              ("Богданов", "bogdanov"), ("Воробьёв", "vorobev"), ("Фёдоров", "fedorov"), ("Михайлов", "mikhaylov"))
POSITIONS = ("Директор", "Менеджер по закупкам", "Главный инженер", "Бухгалтер", "Руководитель отдела")
COMPANY_FORMS = ("ООО", "АО", "ИП", "ПАО")
COMPANY_WORDS = (("Альфа", "alfa"), ("Вектор", "vektor"), ("Гранит", "granit"), ("Орион", "orion"),
                 ("Меридиан", "meridian"), ("Сибирь", "sibir"), ("Прогресс", "progress"), ("Север", "sever"),
                 ("Техностар", "tekhnostar"), ("Восход", "voskhod"), ("Импульс", "impuls"), ("Феникс", "feniks"))

TASK_TEXTS = {FOLLOW_UP: "Связаться с клиентом", MEETING: "Встреча с клиентом", CALL: "Позвонить клиенту"}
TASK_RESULTS = {FOLLOW_UP: "Связались, клиент думает", MEETING: "Встреча состоялась", CALL: "Созвонились"}
CALL_RESULTS = {4: "Разговор состоялся", 3: "Абонент недоступен", 6: "Не дозвонились", 7: "Занято"}
MAIL_SUBJECTS = ("Коммерческое предложение", "Счёт на оплату", "Договор", "Вопрос по заказу", "Re: встреча")
COMMON_NOTES = ("Клиент просит счёт", "Отправил презентацию", "Перезвонить после праздников", "Уточнить бюджет")
