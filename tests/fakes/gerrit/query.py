"""A small subset of Gerrit's change query language, enough for CV's poller queries.

Supported: `status:`, `is:open|closed|merged|abandoned|private`, `project:`, `projects:`
(prefix), `branch:`, `ref:`, `change:`, `owner:`, `label:Name<op>N` (op one of > >= < <= =,
or `Name+N`/`Name-N`), `after:`/`since:`, `before:`/`until:`; implicit AND, `AND`, `OR`,
`NOT`/`-`, parentheses and "quoted values". Anything else is a 400 like Gerrit's.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

from cvmigrate.gerrit.convert import parse_gerrit_timestamp

from .entities import Change, HttpError
from .state import GerritState

__all__ = ["compile_query"]

Predicate = Callable[[Change], bool]

_LABEL_RE = re.compile(r"^(?P<name>[A-Za-z0-9_-]+?)(?P<op>>=|<=|>|<|=|\+|-)(?P<value>\d+)$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ZONE_RE = re.compile(r"^(?P<moment>.*?)(?: (?P<sign>[+-])(?P<hh>\d{2})(?P<mm>\d{2}))?$")
_STATUSES = {
    "new": {"NEW"},
    "open": {"NEW"},
    "pending": {"NEW"},
    "merged": {"MERGED"},
    "abandoned": {"ABANDONED"},
    "closed": {"MERGED", "ABANDONED"},
}


def _tokenize(query: str) -> list[str]:
    tokens: list[str] = []
    i = 0
    while i < len(query):
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(char)
            i += 1
        else:
            start = i
            while i < len(query) and not query[i].isspace() and query[i] not in "()":
                if query[i] == '"':
                    end = query.find('"', i + 1)
                    if end < 0:
                        raise HttpError(400, f"line 1:{i} mismatched quote in query: {query}")
                    i = end + 1
                else:
                    i += 1
            tokens.append(query[start:i])
    return tokens


def _parse_time(value: str) -> datetime.datetime:
    value = value.strip()
    if _DATE_RE.match(value):
        value += " 00:00:00"
    # Gerrit accepts an optional zone suffix ("... -0700"); CV sends UTC without one.
    match = _ZONE_RE.match(value)
    try:
        moment = parse_gerrit_timestamp(match["moment"] if match else value)
    except ValueError:
        raise HttpError(400, f"Unrecognized date/time: {value}") from None
    if match and match["sign"]:
        offset = datetime.timedelta(hours=int(match["hh"]), minutes=int(match["mm"]))
        moment = moment - offset if match["sign"] == "+" else moment + offset
    return moment


def _label_predicate(state: GerritState, value: str) -> Predicate:
    match = _LABEL_RE.match(value)
    if match is None or match["name"] not in state.labels:
        raise HttpError(400, f"Invalid label: {value}")
    name, op, number = match["name"], match["op"], int(match["value"])
    if op == "+":
        op = "="
    elif op == "-":
        op, number = "=", -number
    compare: Callable[[int], bool] = {
        ">": lambda v: v > number,
        ">=": lambda v: v >= number,
        "<": lambda v: v < number,
        "<=": lambda v: v <= number,
        "=": lambda v: v == number,
    }[op]

    def predicate(change: Change) -> bool:
        votes = [vote.value for vote in change.current.votes.get(name, {}).values()]
        if op == "=" and number == 0:
            return not any(votes)  # "=0" means nobody voted
        return any(compare(v) for v in votes)

    return predicate


def _term(state: GerritState, token: str) -> Predicate:
    key, sep, value = token.partition(":")
    if not sep:
        raise HttpError(400, f"Unsupported query: {token}")
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        value = value[1:-1]
    key = key.lower()
    if key == "status" or (key == "is" and value.lower() in _STATUSES):
        statuses = _STATUSES.get(value.lower())
        if statuses is None:
            raise HttpError(400, f"Unrecognized value: {value}")
        return lambda c: c.status in statuses
    if key == "is" and value == "private":
        return lambda c: c.is_private
    if key == "project":
        return lambda c: c.project == value
    if key == "projects":
        return lambda c: c.project.startswith(value)
    if key == "branch":
        branch = value.removeprefix("refs/heads/")
        return lambda c: c.branch == branch
    if key == "ref":
        return lambda c: "refs/heads/" + c.branch == value
    if key == "change":
        return lambda c: str(c.number) == value or c.change_id == value
    if key == "owner":
        account = state.find_account(value)
        owner_id = account.account_id if account else -1
        return lambda c: c.owner == owner_id
    if key == "label":
        return _label_predicate(state, value)
    if key in ("after", "since"):
        after = _parse_time(value)
        return lambda c: c.updated >= after
    if key in ("before", "until"):
        before = _parse_time(value)
        return lambda c: c.updated <= before
    raise HttpError(400, f"Unsupported field: {key}")


class _Parser:
    def __init__(self, state: GerritState, tokens: list[str]) -> None:
        self.state = state
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else (lambda c: any(p(c) for p in parts))

    def parse_and(self) -> Predicate:
        parts = [self.parse_unary()]
        while (token := self.peek()) is not None and token not in (")", "OR"):
            if token == "AND":
                self.take()
            parts.append(self.parse_unary())
        return parts[0] if len(parts) == 1 else (lambda c: all(p(c) for p in parts))

    def parse_unary(self) -> Predicate:
        token = self.peek()
        if token is None:
            raise HttpError(400, "query ends unexpectedly")
        if token == "NOT":
            self.take()
            inner = self.parse_unary()
            return lambda c: not inner(c)
        if token.startswith("-") and len(token) > 1:
            self.tokens[self.pos] = token[1:]
            inner = self.parse_unary()
            return lambda c: not inner(c)
        if token == "(":
            self.take()
            inner = self.parse_or()
            if self.peek() != ")":
                raise HttpError(400, "missing ) in query")
            self.take()
            return inner
        if token == ")":
            raise HttpError(400, "unexpected ) in query")
        return _term(self.state, self.take())


def compile_query(state: GerritState, query: str) -> Predicate:
    """A predicate over changes for `query`; raises HttpError(400) for what it cannot parse."""
    tokens = _tokenize(query)
    if not tokens:
        raise HttpError(400, "missing query field")
    parser = _Parser(state, tokens)
    predicate = parser.parse_or()
    if parser.peek() is not None:
        raise HttpError(400, f"unexpected {parser.peek()} in query")
    return predicate
