"""Masking cloud credentials in anything a server can echo back to us.

A hostile or careless server may echo the token in an error body, upper-cased, URL-encoded, as
the base64 of an Authorization header, or cut off at any length. Whatever reaches a message, the
registry (``outbox.last_error``), a log or JSON output passes through a :class:`Redactor` first,
and the full text is redacted *before* any excerpt is cut from it: a cut made first can leave the
head of the token behind a boundary the matcher no longer sees whole.

What counts as the credential, for a secret of at least :data:`MIN_SCRUB_LEN` characters: any
:data:`WINDOW` consecutive characters of it (or all of it, if shorter), compared without regard to
case, in each of these forms: as is, URL-encoded (``quote``/``quote_plus``, either hex case),
JSON-escaped, and base64 (standard and URL-safe) at each of the three byte alignments it can sit
at inside a longer encoded string (``Basic base64(user:token)``). A match masks the whole run of
token characters around it, so no neighbouring fragment of the secret survives. A shorter secret
(not a real API token) is masked only as a whole token in the places a credential goes (an auth
scheme, a query value): masking it everywhere would reveal it by the words it damaged.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

#: A secret shorter than this is not a real API token (Particle's are 40 hex digits), and masking
#: it wherever it occurs would mask ordinary words ("networ*** unavailable"), revealing it.
MIN_SCRUB_LEN = 8
#: this many consecutive characters of a secret's form are treated as the secret
WINDOW = 10
MASK = "***"

_TOKEN_CHAR = r"[A-Za-z0-9._~+/=-]"
#: what a masked match is widened over: token, URL-escape and base64 characters (not '=': "key=…")
_RUN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~+/%-\\")


def _base64_forms(raw: bytes) -> list[str]:
    """The characters of base64(prefix + raw) fixed by ``raw`` alone, for each prefix length mod 3."""
    forms: list[str] = []
    for k in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * k + raw).decode().rstrip("=")
            start = -(-8 * k // 6)  # first character whose 6 bits all come from ``raw``
            end = (8 * (k + len(raw))) // 6
            forms.append(text[start:end])
    return forms


def secret_forms(secret: str) -> list[tuple[str, bool]]:
    """Each form the secret can be echoed in, with whether it is compared without regard to case."""
    plain = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
             secret.replace("/", "\\/")}
    forms = [(f, True) for f in sorted(plain)]
    forms += [(f, False) for f in sorted(set(_base64_forms(secret.encode())))]
    return forms


def _windows(form: str) -> set[str]:
    if len(form) <= WINDOW:
        return {form}
    return {form[i : i + WINDOW] for i in range(len(form) - WINDOW + 1)}


class Redactor:
    """Masks every given secret in any of its forms; callable on any text, cheap to call often."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets = tuple(sorted({s for s in secrets if s}))
        insensitive: set[str] = set()
        sensitive: set[str] = set()
        for secret in self.secrets:
            if len(secret) < MIN_SCRUB_LEN:
                continue
            for form, ci in secret_forms(secret):
                if len(form) < MIN_SCRUB_LEN // 2:
                    continue
                (insensitive if ci else sensitive).update(_windows(form))
        parts = []
        if insensitive:
            parts.append("(?i:" + "|".join(re.escape(w) for w in sorted(insensitive, key=len, reverse=True)) + ")")
        if sensitive:
            parts.append("(?:" + "|".join(re.escape(w) for w in sorted(sensitive, key=len, reverse=True)) + ")")
        self._pattern = re.compile("|".join(parts)) if parts else None

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = _in_credential_places(text, secret)
        if self._pattern is None:
            return text
        spans: list[tuple[int, int]] = []
        for m in self._pattern.finditer(text):
            start, end = m.start(), m.end()
            while start > 0 and text[start - 1] in _RUN_CHARS:
                start -= 1
            while end < len(text) and text[end] in _RUN_CHARS:
                end += 1
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
            else:
                spans.append((start, end))
        if not spans:
            return text
        out, last = [], 0
        for start, end in spans:
            out += [text[last:start], MASK]
            last = end
        out.append(text[last:])
        return "".join(out)

    def __bool__(self) -> bool:
        return bool(self.secrets)


def _in_credential_places(text: str, secret: str) -> str:
    """The secret as an auth-scheme value or a query/form value, whole tokens only, any length."""
    s = re.escape(secret)
    end = f"(?!{_TOKEN_CHAR})"
    text = re.sub(rf"\b((?i:bearer|token|basic))(\s+){s}{end}", rf"\1\2{MASK}", text)
    return re.sub(rf"\b((?i:access_token|api_key|apikey|token|key))={s}{end}", rf"\1={MASK}", text)
