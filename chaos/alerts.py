"""The on-call end of the campaign: a webhook that records every alert the pipeline sends.

Points `AMOCRM_KPI_ALERT_WEBHOOK_URL` of each run at a local HTTP server; the
campaign then counts alerts per Dagster run id ("every failed run raised
exactly one alert").
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class AlertInbox:
    def __init__(self):
        self.received: list[dict] = []
        self._lock = threading.Lock()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    alert = json.loads(body)
                except ValueError:
                    alert = {"unreadable": body[:200].decode(errors="replace")}
                with inbox._lock:
                    inbox.received.append(alert)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="chaos-alerts").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/alert"

    def errors_by_run(self) -> Counter[str]:
        """Run-failure alerts (severity "error") per run id; warnings about checks are not counted."""
        with self._lock:
            return Counter(a.get("run_id", "?") for a in self.received if a.get("severity") == "error")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
