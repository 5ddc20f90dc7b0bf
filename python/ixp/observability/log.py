"""Logging: structured JSON lines (or text) with the request id in every line, and the slow-request
log. `configure_logging` is called by the server entry points, never on import."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from typing import Any

from ixp.base.clock import iso_ms

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("ixp_request_id", default="-")
#: The name of the API key the current request authenticated with (never the key itself), or "-".
key_name: contextvars.ContextVar[str] = contextvars.ContextVar("ixp_key_name", default="-")
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        if not hasattr(record, "key"):
            name = key_name.get()
            if name != "-":
                record.key = name
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        from datetime import datetime, timezone

        line: dict[str, Any] = {
            "timestamp": iso_ms(datetime.fromtimestamp(record.created, timezone.utc)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    logger = logging.getLogger("ixp")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
