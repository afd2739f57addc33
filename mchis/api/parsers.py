"""The API's body parser: DRF's JSON parser, its error said in the client's language.

DRF words a body that does not parse as "JSON parse error - <the json module's reason>", in
English only; the reason's position is what a client developer needs, so it is kept.
"""

from __future__ import annotations

import json

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JsonParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except ParseError as exc:
            cause = exc.__context__
            if isinstance(cause, json.JSONDecodeError):
                raise ParseError(
                    _("The body is not valid JSON (near line %(line)s, column %(column)s).")
                    % {"line": cause.lineno, "column": cause.colno}
                ) from cause
            raise ParseError(_("The body is not valid JSON.")) from cause
