"""Deterministic names, phones and e-mails, derived from an entity's row and drawn codes.

Kept out of the timeline arrays so a million contacts cost a few bytes each; the
same row always renders the same strings.
"""

from __future__ import annotations

from . import reference as ref


def _digits(key: int, count: int) -> str:
    return f"{(key * 2_654_435_761 + 97) % 10**count:0{count}d}"


def contact_phone(contact: int, version: int) -> str:
    """A mobile number; `version` 1 is the number after the contact's edit."""
    return "+79" + _digits(contact * 4 + version, 9)


def company_phone(company: int) -> str:
    return "+749" + _digits(company * 7 + 3, 8)


def contact_names(female: bool, first: int, last: int) -> tuple[str, str, str, str]:
    """(first_name, last_name, latin first, latin last)."""
    first_name, first_latin = (ref.FIRST_NAMES_F if female else ref.FIRST_NAMES_M)[first]
    last_name, last_latin = ref.LAST_NAMES[last]
    if female:
        last_name, last_latin = last_name + "а", last_latin + "a"
    return first_name, last_name, first_latin, last_latin


def contact_email(first_latin: str, last_latin: str, contact: int) -> str:
    return f"{first_latin}.{last_latin}{contact % 997}@mail.example"


def company_name(form: int, word: int, number: int) -> tuple[str, str]:
    """(display name, latin slug for its web site)."""
    name, slug = ref.COMPANY_WORDS[word]
    suffix = f"-{number}" if number > 50 else ""
    return f"{ref.COMPANY_FORMS[form]} «{name}{suffix}»", f"{slug}{suffix}"
