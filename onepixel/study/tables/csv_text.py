"""The tables' CSV text and their row order."""

from __future__ import annotations

import csv
import io


def csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def csv_or_header(rows: list[dict], fields) -> str:
    return csv_text(rows) if rows else ",".join(fields) + "\n"


def variant_order(keyed: dict):
    """Sort key: variants in config order (first seen), then D, step, seed, ..."""
    order = {}
    for key in keyed:
        order.setdefault(key[0], len(order))
    return lambda item: (order[item[0][0]], *item[0][1:])
