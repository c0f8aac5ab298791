"""Many rows into one table on SQLite: one driver-level executemany of plain tuples.

SQLAlchemy's executemany builds every row's parameters in Python, column by column, through
generic machinery; an import writes tens of thousands of rows, and that per-row work cost
about as much as SQLite's own insert. Here each column's conversion (the column type's own
bind processor, so the stored values are the same) and default are looked up once per
statement, and the rows reach the driver as tuples.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, insert

__all__ = ["insert_rows", "supported"]


@dataclass(frozen=True)
class _Plan:
    sql: str
    template: list[Any]  # each row's values before its own: the defaults that are constants
    given: list[tuple[int, str, Callable[[Any], Any] | None]]  # (place, key, conversion)
    computed: list[tuple[int, Callable[[], Any]]]  # (place, default made per row, converted)


# Plans by dialect (an engine's: its JSON serialiser), then by (table name, column keys).
_PLANS: weakref.WeakKeyDictionary[Any, dict[tuple[str, frozenset[str]], _Plan]] = weakref.WeakKeyDictionary()


def supported(conn: Connection) -> bool:
    """Positional ``?`` parameters: the plan's SQL is written for SQLite's driver."""
    return conn.dialect.name == "sqlite"


def _plan(conn: Connection, table: Table, keys: frozenset[str]) -> _Plan:
    plans = _PLANS.setdefault(conn.dialect, {})
    plan = plans.get((table.name, keys))
    if plan is None:
        plan = plans[(table.name, keys)] = _make_plan(conn, table, keys)
    return plan


def _make_plan(conn: Connection, table: Table, keys: frozenset[str]) -> _Plan:
    # What SQLAlchemy's insert would send: the given columns, then those with a Python-side
    # default (the others are left to the database).
    cols = {c.key: c for c in table.columns if c.key in keys or (c.default is not None and not c.primary_key)}
    unknown = keys - set(cols)
    if unknown:
        raise KeyError(f"{table.name} has no column {sorted(unknown)}")
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=list(cols))
    order = list(compiled.positiontup or [])
    if sorted(order) != sorted(cols):
        raise ValueError(f"{table.name}: the compiled insert binds {order}, not {sorted(cols)}")
    template: list[Any] = [None] * len(order)
    given: list[tuple[int, str, Callable[[Any], Any] | None]] = []
    computed: list[tuple[int, Callable[[], Any]]] = []
    for place, key in enumerate(order):
        column = cols[key]
        process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        convert = process or (lambda v: v)
        default = column.default
        if key in keys:
            given.append((place, key, process))
        elif default.is_scalar:
            template[place] = convert(default.arg)
        elif default.is_callable:
            fn = default.arg  # SQLAlchemy wraps a plain function to take the execution context
            computed.append((place, lambda fn=fn, convert=convert: convert(fn(None))))
        else:
            raise ValueError(f"{table.name}.{key}: default {default!r} is not a value or a function")
    return _Plan(compiled.string, template, given, computed)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the caller's transaction."""
    if not rows:
        return
    plan = _plan(conn, table, frozenset(rows[0]))
    given, computed = plan.given, plan.computed
    params = []
    for row in rows:
        values = plan.template.copy()
        for place, key, process in given:
            values[place] = row[key] if process is None else process(row[key])
        for place, make in computed:
            values[place] = make()
        params.append(tuple(values))
    conn.exec_driver_sql(plan.sql, params)
