"""Helpers shared by the simulator tests (a module with a unique name: tests have no packages)."""

import requests

from pipelines.simulator import Simulator

NOW = 1_790_000_000  # 2026-09-21 14:13:20 UTC


class Client:
    """`requests` with the simulator's long-lived token and base URL."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {sim.long_lived_token}"

    def get(self, path: str, **params) -> requests.Response:
        return self.session.get(self.sim.base_url + path, params=params, timeout=10)

    def all(self, path: str, collection: str, **params) -> list[dict]:
        """Every item of a list, following `next` links until there is none or a 204."""
        items, url, query = [], self.sim.base_url + path, params
        while url:
            response = self.session.get(url, params=query, timeout=10)
            if response.status_code == 204:
                break
            assert response.status_code == 200, response.text
            body = response.json()
            items += body["_embedded"][collection]
            url, query = body["_links"].get("next", {}).get("href"), None
        return items


def plain(value):
    """A truth cell as the API would send it: pandas NA/None -> None, numpy ints -> int."""
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return int(value) if hasattr(value, "__index__") else value


def without_item_queries(items):
    """Items as served by any list request: live items' `_links.self.href` repeat the request's query
    string (shapes.item_links), so items of two different requests compare equal only without it."""
    import json
    import re

    return json.loads(re.sub(r'("href": "[^"?]*)\?[^"]*"', r'\1"', json.dumps(items)))
