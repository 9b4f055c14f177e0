"""JsonLogic rules with the semantics of json-logic-js.

Templates carry guards and effects as JsonLogic (https://jsonlogic.com) and
mini-programs evaluate the very same rules with json-logic-js, so both sides
must agree to the last detail: JS truthiness, loose ``==``, ``parseFloat`` in
``+``, JS number formatting in ``cat``, UTF-16 string lengths.

A rule is validated once (allow-list, size limits) and compiled into a tree of
closures; evaluating it afterwards looks nothing up by operator name.

Modules, each importing only those above it:

- ``errors``: what a rule can be refused for;
- ``js``: JavaScript value semantics (truthiness, ``==``, ``<``, coercions);
- ``operators``: what each operator does with its evaluated arguments;
- ``closures``: one closure builder per operator, and the allow-list;
- ``compile``: validation and compilation of a whole rule;
- ``introspect``: the paths a rule reads and the operators it uses.
"""

from magic_cube.rules.jsonlogic.closures import ALLOWED_OPERATORS
from magic_cube.rules.jsonlogic.compile import (
    DEFINITION_OPERATOR,
    MAX_DEPTH,
    MAX_NODES,
    Definitions,
    Known,
    apply,
    compile_rule,
)
from magic_cube.rules.jsonlogic.errors import (
    EvaluationError,
    InvalidRule,
    JsonLogicError,
    RuleTooDeep,
    RuleTooLarge,
    UnknownOperator,
)
from magic_cube.rules.jsonlogic.introspect import operators_in, scoped_var_paths, var_paths
from magic_cube.rules.jsonlogic.js import truthy

__all__ = [
    "ALLOWED_OPERATORS",
    "DEFINITION_OPERATOR",
    "MAX_DEPTH",
    "MAX_NODES",
    "Definitions",
    "EvaluationError",
    "InvalidRule",
    "JsonLogicError",
    "Known",
    "RuleTooDeep",
    "RuleTooLarge",
    "UnknownOperator",
    "apply",
    "compile_rule",
    "operators_in",
    "scoped_var_paths",
    "truthy",
    "var_paths",
]
