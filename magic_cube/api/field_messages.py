"""A field error's message in the request's language, like the error's own message.

The messages of a body's field errors come from marshmallow (`Not a valid integer.`, `Length
must be between 1 and 128.`) and from the engine's checks of an activity's or a campaign's
settings, in English, some with a number or a value of the client's in them. A message is
translated whole when the catalog has it; otherwise by the first pattern here it matches,
whose words come from the catalog and whose values stay as they were. A message neither
knows (a template's own words, already in the request's language) is left as it is.
"""

from __future__ import annotations

import re
from functools import lru_cache

from magic_cube.i18n import N_, gettext

# Whole messages: marshmallow's defaults and the engine's fixed field messages.
WORDS = (
    N_("Missing data for required field."),
    N_("Unknown field."),
    N_("Field may not be null."),
    N_("Invalid input type."),
    N_("Invalid value."),
    N_("Not a valid string."),
    N_("Not a valid utf-8 string."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Not a valid boolean."),
    N_("Not a valid datetime."),
    N_("Not a valid date."),
    N_("Not a valid mapping type."),
    N_("Not a valid list."),
    N_("Not a valid UUID."),
    N_("Not a valid URL."),
    N_("Not a valid email address."),
    N_("String does not match expected pattern."),
    N_("Special numeric values (nan or infinity) are not permitted."),
    N_("Number too large."),
    N_("No control characters"),
    N_("The end must be after the start"),
    N_("The end must be in the future and after the start"),
    N_("Not a stock of this activity"),
    N_("Not a field of an activity"),
    N_("must be an object"),
    N_("A name is 1 to 100 characters"),
    N_("The campaign cannot end before it starts"),
    N_("Not an IANA time zone this server knows: use a name such as Asia/Shanghai"),
)

# (pattern, message with the pattern's groups as placeholders)
PATTERNS = [(re.compile(pattern, re.DOTALL), message) for pattern, message in (
    (r"Length must be between (?P<min>\d+) and (?P<max>\d+)\.",
     N_("Length must be between {min} and {max}.")),
    (r"Length must be (?P<equal>\d+)\.", N_("Length must be {equal}.")),
    (r"Shorter than minimum length (?P<min>\d+)\.", N_("Shorter than minimum length {min}.")),
    (r"Longer than maximum length (?P<max>\d+)\.", N_("Longer than maximum length {max}.")),
    (r"Must be greater than or equal to (?P<min>\S+) and less than or equal to (?P<max>\S+)\.",
     N_("Must be greater than or equal to {min} and less than or equal to {max}.")),
    (r"Must be greater than or equal to (?P<min>\S+)\.",
     N_("Must be greater than or equal to {min}.")),
    (r"Must be less than or equal to (?P<max>\S+)\.", N_("Must be less than or equal to {max}.")),
    (r"Must be one of: (?P<choices>.*)\.", N_("Must be one of: {choices}.")),
    (r"(?P<least>\d+) to (?P<most>\d+) characters", N_("{least} to {most} characters")),
    (r"Unknown time zone (?P<value>.*): use an IANA name such as Asia/Shanghai",
     N_("Unknown time zone {value}: use an IANA name such as Asia/Shanghai")),
    (r"A campaign lasts at most (?P<days>\d+) days", N_("A campaign lasts at most {days} days")),
    (r"At least (?P<used>\S+) are already used", N_("At least {used} are already used")),
    (r"Top up by a whole number from 1 to (?P<most>\d+)",
     N_("Top up by a whole number from 1 to {most}")),
)]


@lru_cache(maxsize=1024)
def translated(lang: str, message: str) -> str:
    """`message` in `lang`: whole, else by its pattern, else as it is."""
    whole = gettext(lang, message)
    if whole != message:
        return whole
    for pattern, words in PATTERNS:
        found = pattern.fullmatch(message)
        if found is not None:
            return gettext(lang, words, **found.groupdict())
    return message
