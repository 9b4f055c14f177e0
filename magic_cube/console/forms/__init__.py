"""Server-rendered forms for a template's config schema (JSON Schema 2020-12 + `x-ui` hints).

A template declares the merchant's settings as a JSON Schema with UI hints (`x-ui`, see
docs/templates.md). No maintained Python library turns such a schema into server-side HTML, so
this package does:

- `schema`: reading a schema node as a field (its kind, options, variants, items), an object's
  properties in display order with the conditions they show under (`if`/`then`/`else`).
- `render`: `render_form` builds the fields (not the `<form>` tag: pages wrap it) as a view for
  the Jinja macros in `templates/console/_form.html` (`inputs` and `hidden` make the single
  inputs). Names are dotted paths (`config.prizes.0.name`), ids derive from them
  (`field-config-prizes-0-name`), so an error keyed `prizes.0.name` by the validator lands on
  its input and the error summary can link to it.
- `parse`: `parse_form` turns the submitted strings back into typed JSON *before* validation
  (a money field typed as yuan becomes integer fen, `"5"` becomes `5`, dates become RFC 3339
  strings); what cannot be read comes back as a coercion error instead of an exception.
- `arrays`: `form_action` / `apply_array_action` give array rows add/remove/move buttons that
  work without JavaScript: the buttons submit the form and the page renders it again, changed,
  unsaved.
- `summary`: `error_summary` lists every error with a link to its field, for the top of the page.

`static/forms.js` makes the same buttons instant and shows conditional fields as values change;
every behaviour also works without it. The form's own words (Add, Remove, Yes, No, …) are
Flask-Babel messages of the console's catalog, in the `lang` a caller passes.
"""

from __future__ import annotations

from magic_cube.console.forms.arrays import apply_array_action, form_action
from magic_cube.console.forms.names import FieldErrors, field_id
from magic_cube.console.forms.parse import parse_form
from magic_cube.console.forms.render import render_form
from magic_cube.console.forms.summary import ErrorSummary, error_summary
from magic_cube.console.forms.values import DEFAULT_TIMEZONE

__all__ = [
    "DEFAULT_TIMEZONE",
    "ErrorSummary",
    "FieldErrors",
    "apply_array_action",
    "error_summary",
    "field_id",
    "form_action",
    "parse_form",
    "render_form",
]
