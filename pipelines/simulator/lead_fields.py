"""What the breakdowns slice by: a lead's tags (some have two) and its city and product custom fields.

Drawn from a random stream of their own, so adding them changed no other draw of the timeline.
The product field is a multi-select: most leads carry the product their name names, a few a second
one too, some none; a lead with two tags or two products counts under each in the breakdowns.
"""

from __future__ import annotations

import numpy as np

from . import reference as ref

# the extra stream's tag in the seed sequence (issue 15 added these draws)
STREAM = 15
SECOND_TAG_SHARE = 0.35  # of the tagged leads
CITY_MISSING = 0.25
PRODUCT_MISSING = 0.15
SECOND_PRODUCT_SHARE = 0.12


def draw(seed_parts: list[int], tag: np.ndarray, product: np.ndarray) -> dict[str, np.ndarray]:
    """Per lead: `tag2` (a second tag, -1 none), `city` (-1 none), `product_set` (0: the field is empty,
    1: the name's product) and `product2` (a second product, -1 none)."""
    rng = np.random.default_rng([*seed_parts, STREAM])
    n = len(tag)
    n_tags, n_products = len(ref.TAGS), len(ref.LEAD_PRODUCTS)
    second = (tag >= 0) & (rng.random(n) < SECOND_TAG_SHARE)
    tag2 = np.where(second, (tag + rng.integers(1, n_tags, n)) % n_tags, -1).astype(np.int8)
    city = np.where(rng.random(n) < CITY_MISSING, -1, rng.integers(0, len(ref.CITIES), n)).astype(np.int8)
    product_set = rng.random(n) >= PRODUCT_MISSING
    extra = product_set & (rng.random(n) < SECOND_PRODUCT_SHARE)
    product2 = np.where(extra, (product + rng.integers(1, n_products, n)) % n_products, -1).astype(np.int8)
    return dict(tag2=tag2, city=city, product_set=product_set, product2=product2)


def tags(leads: dict[str, np.ndarray], i: int) -> list[int]:
    """Indexes into ref.TAGS of lead row i's tags, in the order the API lists them."""
    return [int(t) for t in (leads["tag"][i], leads["tag2"][i]) if t >= 0]


def field_values(leads: dict[str, np.ndarray], i: int) -> list[tuple[ref.Field, list[int]]]:
    """(field, indexes of its enums) of lead row i's city and product fields that are filled."""
    out = []
    city = int(leads["city"][i])
    if city >= 0:
        out.append((ref.CITY_FIELD, [city]))
    if leads["product_set"][i]:
        products = [int(leads["product"][i])] + ([int(leads["product2"][i])] if leads["product2"][i] >= 0 else [])
        out.append((ref.PRODUCT_FIELD, products))
    return out
