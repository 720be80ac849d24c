# Schemathesis hooks for the API fuzz (services/testing/fuzz.ts loads this module through
# SCHEMATHESIS_HOOKS). They mix hostile-but-plausible input into schemathesis's own generation,
# drawn from hypothesis so that the run's seed reproduces it: what real clients send and a JSON
# Schema does not ask for.
import json

import schemathesis
from hypothesis import strategies as st

# Text Postgres cannot store (NUL), what a UI sends when it cuts an emoji in half (lone
# surrogates, escaped in the JSON text), invisible or direction-changing marks, line breaks,
# percent-escapes and backslashes that a careless decoder trips on.
HOSTILE_TEXT = ["\x00", "\ud83d", "\udc00", "\ufeff", "\u202e", "\r\n", "%FF", "\\", "\U0001f600"]
PLACES = ["start", "middle", "end"]


def _string_paths(value, path=()):
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _string_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _string_paths(v, (*path, i))


def _with(value, path, fn):
    """A copy of `value` with `fn` applied at `path`."""
    if not path:
        return fn(value)
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _with(value[head], rest, fn)}
    return [_with(v, rest, fn) if i == head else v for i, v in enumerate(value)]


def _insert(text, mark, place):
    half = len(text) // 2
    return {"start": mark + text, "middle": text[:half] + mark + text[half:], "end": text + mark}[place]


def _hostile_bodies(body):
    paths = list(_string_paths(body))
    if not paths:
        return []

    def spoil(path, mark, place):
        spoiled = _with(body, path, lambda s: _insert(s, mark, place))
        # A lone surrogate cannot be UTF-8 encoded for schemathesis's own validation: such a body
        # goes as its JSON text (\ud83d escapes), which schemathesis then counts as invalid data,
        # so the answer must be a 4xx.
        return json.dumps(spoiled).encode() if "\ud800" <= mark[0] <= "\udfff" else spoiled

    return [st.builds(spoil, st.sampled_from(paths), st.sampled_from(HOSTILE_TEXT), st.sampled_from(PLACES))]


def _hostile_keys(key):
    # Spellings of one UUID a client may send: upper case, and 128-bit ids outside RFC 9562's
    # version and variant digits (what a random-bytes generator makes).
    digit = st.sampled_from("0123456789abcdefABCDEF")
    return st.one_of(
        st.just(key.upper()),
        st.builds(lambda v, r: key[:14] + v + key[15:19] + r + key[20:], digit, digit),
    )


@schemathesis.hook
def flatmap_case(ctx, case):
    # Only cases of the fuzzing phase generated as valid: a hostile mark in a case meant to be
    # invalid could make it valid behind schemathesis's back, and its negative-data check would then
    # misfire. (The stateful phase chains requests through links and errors on altered cases.)
    meta = case.meta
    mode = getattr(meta.generation.mode, "value", None) if meta else None
    phase = getattr(meta.phase.name, "value", None) if meta else None
    if mode != "positive" or phase != "fuzzing":
        return st.just(case)
    # The same case object comes back for every draw: each draw sets body and headers afresh.
    body, headers = case.body, case.headers

    def use(new_body=body, new_headers=headers):
        case.body, case.headers = new_body, new_headers
        return case

    hostile = [b.map(lambda b: use(new_body=b)) for b in _hostile_bodies(body)]
    key = headers.get("Idempotency-Key") if headers else None
    if isinstance(key, str) and len(key) == 36:
        with_key = lambda k: use(new_headers=type(headers)({**headers, "Idempotency-Key": k}))
        hostile.append(_hostile_keys(key).map(with_key))
    if not hostile:
        return st.just(case)
    # About one case in four carries something hostile.
    plain = st.builds(use)
    return st.one_of(plain, plain, plain, *hostile)


@schemathesis.check
def key_reuse_needs_a_key(ctx, response, case):
    """A 422 idempotency-key-reused answers only a request that carried an Idempotency-Key."""
    # Without one the producer made the key itself, so no other request can have used it: such an
    # answer means the write was applied and then misjudged (a lone surrogate that Postgres stored
    # as U+FFFD no longer matched its own command).
    headers = case.headers or {}
    if response.status_code == 422 and "idempotency-key-reused" in response.text and "Idempotency-Key" not in headers:
        raise AssertionError("422 idempotency-key-reused for a request that sent no Idempotency-Key")
