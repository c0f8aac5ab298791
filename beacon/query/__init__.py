"""Beacon's search language, shared by the web search box, the API (``q=``) and the CLI.

``parse(text)`` turns what the user typed into a typed tree (:mod:`beacon.query.model`); the
store compiles that tree into SQL for its backend (:mod:`beacon.store.query_sql`).
"""

from beacon.query.model import (
    And, DateBound, Due, Equals, Has, InAccount, Node, Not, Or, State, Text, TextField,
)
from beacon.query.parser import HELP, parse

__all__ = [
    "And", "DateBound", "Due", "Equals", "HELP", "Has", "InAccount", "Node", "Not", "Or", "State",
    "Text", "TextField", "parse",
]
