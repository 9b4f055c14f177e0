"""Which values of a template are money (fen), for showing them in yuan.

A config field or action param is money when its schema says so (`x-ui.widget: "money"`). A
view key, a stock, a room value or a member's data is money when its value comes from money: a
read of a money field or param, of a split of money (`local`), or of a state variable that only
ever holds money — it is a number that starts at a money value (or at a plain number such as 0)
and every `set` or `add` on it writes money (a check-in pool's `pool` starts at
`config.pool_amount` and grows by `config.daily_boost`; its `share` starts at 0 and is set to
the pool divided by a head count). Sums and differences of money, money times or divided by a
plain number, and its floor, ceiling or rounding stay money. A conditional is money when each
of its branches is money or a plain number (0 when nobody qualified) and one of them is money;
given an activity's config, a condition that reads only the config picks its branch (a gift of
money holds yuan, a gift of units holds counts). A value read inside its own definition is
neutral: a bargain's price, cut by a split of what is left of it, stays money.

The console shows money with it; the live room lists of the engine say which values are money.
"""

from __future__ import annotations

from typing import Any

from magic_cube.rules.jsonlogic import JsonLogicError
from magic_cube.rules.jsonlogic.compile import compile_rule
from magic_cube.rules.jsonlogic.introspect import var_paths

SUMS = ("+", "-", "min", "max")
ROUNDING = ("floor", "ceil", "round", "abs")
WRITES = ("set", "add")
# How an expression names each scope of state (`me.days` is the participant's `days`).
SCOPES = {"activity": "activity", "room": "room", "me": "participant", "them": "participant"}
MONEY, PLAIN = "money", "plain"


def is_money_prop(prop: Any) -> bool:
    """A config or params property the merchant types as money (`x-ui.widget: money`)."""
    return isinstance(prop, dict) and (prop.get("x-ui") or {}).get("widget") == "money"


def template_effects(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every effect of every action, nested ones (`if`, `each`, `with`) included."""
    out: list[dict[str, Any]] = []
    stack: list[Any] = [a.get("effects") for a in (doc.get("actions") or {}).values()
                        if isinstance(a, dict)]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            out.append(node)
            for value in node.values():
                if isinstance(value, dict):
                    stack.extend(v for k, v in value.items() if k in ("then", "else", "do"))
    return out


def _plain_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class MoneyReads:
    """The money analysis of one template document, for one activity's `config` if given."""

    def __init__(self, doc: dict[str, Any], config: dict[str, Any] | None = None) -> None:
        self.config = config
        props = (doc.get("config") or {}).get("schema", {}).get("properties") or {}
        self.fields = {name for name, prop in props.items() if is_money_prop(prop)}
        self.params: set[str] = set()
        for action in (doc.get("actions") or {}).values():
            schema = action.get("params") if isinstance(action, dict) else None
            for name, prop in ((schema or {}).get("properties") or {}).items():
                if is_money_prop(prop):
                    self.params.add(name)
        self.state = {scope: decls for scope, decls in (doc.get("state") or {}).items()
                      if isinstance(decls, dict)}
        self.writes: dict[str, list[Any]] = {}
        # What each local may hold: a `let`'s value, a split's total, later `set`/`add` on it
        # (a pot shared out one split at a time: what is left, less each share).
        self.locals: dict[str, list[Any]] = {}
        self.member_data: dict[str, list[Any]] = {}
        for effect in template_effects(doc):
            for kind in WRITES:
                body = effect.get(kind)
                if isinstance(body, dict) and isinstance(body.get("path"), str):
                    path = self._canonical(body["path"])
                    self.writes.setdefault(path, []).append(body.get("value"))
            split = effect.get("split")
            if isinstance(split, dict) and isinstance(split.get("as"), str):
                self.locals.setdefault(split["as"], []).append(split.get("total"))
            let = effect.get("let")
            if isinstance(let, dict) and isinstance(let.get("name"), str) and "value" in let:
                self.locals.setdefault(let["name"], []).append(let["value"])
            for kind in ("join", "create_room"):
                body = effect.get(kind)
                data = body.get("data") if isinstance(body, dict) else None
                for key, rule in (data if isinstance(data, dict) else {}).items():
                    self.member_data.setdefault(key, []).append(rule)
        self._busy: set[str] = set()

    @staticmethod
    def _canonical(path: str) -> str:
        head, _, rest = path.partition(".")
        return f"{SCOPES.get(head, head)}.{rest}"

    def member_money(self) -> set[str]:
        """Keys of room members' data that hold money."""
        return {k for k, rules in self.member_data.items() if all(self.money(r) for r in rules)}

    def money(self, rule: Any) -> bool:
        """Whether the expression gives an amount of money (in fen)."""
        return self._kind(rule) == MONEY

    def _kind(self, rule: Any) -> str | None:
        """MONEY, PLAIN (a number literal, or a value read again inside its own definition:
        it neither makes an expression money nor keeps it from being money), or None."""
        if _plain_number(rule):
            return PLAIN
        if not isinstance(rule, dict) or len(rule) != 1:
            return None
        op, args = next(iter(rule.items()))
        if op == "var":
            return self._var(args[0] if isinstance(args, list) and args else args)
        args = args if isinstance(args, list) else [args]
        if op in SUMS:
            return self._some_money_rest_plain(args)
        if op in ROUNDING:
            return self._kind(args[0]) if args else None
        if op == "*":
            return MONEY if sum(1 for a in args if self.money(a)) == 1 else None
        if op == "/":
            return MONEY if args and self.money(args[0]) \
                and not any(self.money(a) for a in args[1:]) else None
        if op == "if":
            return self._if(args)
        return None

    def _some_money_rest_plain(self, values: list[Any]) -> str | None:
        kinds = [self._kind(value) for value in values]
        if None in kinds or not kinds:
            return None
        return MONEY if MONEY in kinds else PLAIN

    def _if(self, args: list[Any]) -> str | None:
        pairs = [(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]
        otherwise = args[-1] if len(args) % 2 else None
        if self.config is not None:
            for condition, then in pairs:
                if not all(p.startswith("config.") for p in var_paths(condition)):
                    break  # decided by the state: money as its branches are
                try:
                    if compile_rule(condition)({"config": self.config}):
                        return self._kind(then)
                except JsonLogicError:
                    break
            else:
                return self._kind(otherwise)
        branches = [then for _, then in pairs] + ([otherwise] if len(args) % 2 else [])
        return self._some_money_rest_plain(branches)

    def _var(self, path: Any) -> str | None:
        if not isinstance(path, str):
            return None
        if path in self._busy:
            return PLAIN  # a bargain's price is cut by a split of itself: still money
        head, _, rest = path.partition(".")
        if head == "config":
            return MONEY if rest in self.fields else None
        if head == "params":
            return MONEY if rest in self.params else None
        self._busy.add(path)
        try:
            if head == "local":
                sources = [*self.locals.get(rest, []), *self.writes.get(f"local.{rest}", [])]
                return self._some_money_rest_plain(sources)
            scope = SCOPES.get(head)
            decl = self.state.get(scope, {}).get(rest) if scope else None
            if not isinstance(decl, dict):
                return None
            if decl.get("type") == "map" and decl.get("values") in ("integer", "number"):
                # A map of amounts (each member's share, keyed by who): money when every
                # entry written is; it starts empty.
                sources = self.writes.get(f"{scope}.{rest}", [])
            elif decl.get("type") in ("integer", "number"):
                sources = [decl.get("initial"), *self.writes.get(f"{scope}.{rest}", [])]
            else:
                return None
            # A counter that starts at 0 and grows by 1 is not money, nor a plain number.
            return MONEY if self._some_money_rest_plain(sources) == MONEY else None
        finally:
            self._busy.discard(path)


def money_view_keys(doc: dict[str, Any], view: str = "activity") -> set[str]:
    """The keys of a view (`activity`, `room`, `me`) whose values are money."""
    reads = MoneyReads(doc)
    return {key for key, rule in ((doc.get("views") or {}).get(view) or {}).items()
            if reads.money(rule)}

