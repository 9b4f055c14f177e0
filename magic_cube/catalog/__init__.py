"""Activity templates: discovery, validation (meta-schema and semantics), compilation, pinning."""

from magic_cube.catalog.catalog import (
    Catalog,
    TemplateEntry,
    TemplateMismatch,
    TemplateNotFound,
    content_hash,
    load_template,
    pin,
    validate_path,
)
from magic_cube.catalog.config import ConfigValidator
from magic_cube.catalog.errors import BUILTIN_ERRORS
from magic_cube.catalog.problems import TemplateInvalid, TemplateProblem

__all__ = [
    "BUILTIN_ERRORS",
    "Catalog",
    "ConfigValidator",
    "TemplateEntry",
    "TemplateInvalid",
    "TemplateMismatch",
    "TemplateNotFound",
    "TemplateProblem",
    "content_hash",
    "load_template",
    "pin",
    "validate_path",
]
