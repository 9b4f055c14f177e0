"""Which values of a template are money, for showing them in yuan.

A config field is money when its schema says so (`x-ui.widget: "money"`). A view key or a stock
is money when its value comes from money: a read of a money config field or action param, or of
a state variable that only ever holds money — it starts at a money value (or at a plain number
such as 0) and every `set` or `add` on it writes money (a check-in pool's `pool` starts at
`config.pool_amount` and grows by `config.daily_boost`; its `share` starts at 0 and is set to
the pool divided by a head count). Sums and differences of money, money times or divided by a
plain number, and its floor, ceiling or rounding stay money; a conditional is money when each of
its branches is money or a plain number (0 when nobody qualified) and one of them is money.
"""

from __future__ import annotations

from typing import Any

from magic_cube.engine.live import is_money_prop, template_effects

SUMS = ("+", "-", "min", "max")
ROUNDING = ("floor", "ceil", "round", "abs")
WRITES = ("set", "add")
# How an expression names each scope of state (`me.days` is the participant's `days`).
SCOPES = {"activity": "activity", "room": "room", "me": "participant", "them": "participant"}


def _plain_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class MoneyReads:
    """The money analysis of one template document."""

    def __init__(self, doc: dict[str, Any]) -> None:
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
        self.locals: dict[str, Any] = {}
        for effect in template_effects(doc):
            for kind in WRITES:
                body = effect.get(kind)
                if isinstance(body, dict) and isinstance(body.get("path"), str):
                    path = self._canonical(body["path"])
                    self.writes.setdefault(path, []).append(body.get("value"))
            split = effect.get("split")
            if isinstance(split, dict) and isinstance(split.get("as"), str):
                self.locals[split["as"]] = split.get("total")
        self._busy: set[str] = set()

    @staticmethod
    def _canonical(path: str) -> str:
        head, _, rest = path.partition(".")
        return f"{SCOPES.get(head, head)}.{rest}"

    def money(self, rule: Any) -> bool:
        """Whether the expression gives an amount of money (in fen)."""
        if not isinstance(rule, dict) or len(rule) != 1:
            return False
        op, args = next(iter(rule.items()))
        if op == "var":
            return self._var(args[0] if isinstance(args, list) and args else args)
        args = args if isinstance(args, list) else [args]
        if op in SUMS:
            return self._some_money_rest_plain(args)
        if op in ROUNDING:
            return bool(args) and self.money(args[0])
        if op == "*":
            return sum(1 for a in args if self.money(a)) == 1
        if op == "/":
            return bool(args) and self.money(args[0]) \
                and not any(self.money(a) for a in args[1:])
        if op == "if":
            branches = [args[i] for i in range(1, len(args), 2)]
            if len(args) % 2:
                branches.append(args[-1])
            return self._some_money_rest_plain(branches)
        return False

    def _some_money_rest_plain(self, values: list[Any]) -> bool:
        found = False
        for value in values:
            if self.money(value):
                found = True
            elif not _plain_number(value):
                return False
        return found

    def _var(self, path: Any) -> bool:
        if not isinstance(path, str) or path in self._busy:
            return False
        head, _, rest = path.partition(".")
        if head == "config":
            return rest in self.fields
        if head == "params":
            return rest in self.params
        self._busy.add(path)  # a value defined through itself is not money by that alone
        try:
            if head == "local":
                return self.money(self.locals.get(rest))
            scope = SCOPES.get(head)
            decl = self.state.get(scope, {}).get(rest) if scope else None
            if not isinstance(decl, dict) or decl.get("type") not in ("integer", "number"):
                return False
            sources = [decl.get("initial"), *self.writes.get(f"{scope}.{rest}", [])]
            return self._some_money_rest_plain(sources)
        finally:
            self._busy.discard(path)


def money_view_keys(doc: dict[str, Any], view: str = "activity") -> set[str]:
    """The keys of a view (`activity`, `room`, `me`) whose values are money."""
    reads = MoneyReads(doc)
    return {key for key, rule in ((doc.get("views") or {}).get(view) or {}).items()
            if reads.money(rule)}


def money_state(doc: dict[str, Any], scope: str, name: str) -> bool:
    """Whether a state variable (`activity`, `pool`) holds money."""
    head = next((h for h, s in SCOPES.items() if s == scope), scope)
    return MoneyReads(doc).money({"var": f"{head}.{name}"})
