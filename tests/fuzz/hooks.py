"""Schemathesis hooks for the input fuzzer (.ci/fuzz); loaded through SCHEMATHESIS_HOOKS.

Two things schemathesis cannot know about Touchpoint:

* Scalars. Date and DateTime have built-in strategies; Decimal (a string such as "19.99") and
  JSON do not. Decimal values mix plain numbers with the edges a parser trips on: the largest and
  smallest values, many digits, exponents, blanks and text.
* Error codes. Every error Touchpoint sends carries `extensions.code`. The caller's faults
  (UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, OUT_OF_STOCK, BAD_USER_INPUT, NOT_IMPLEMENTED for a
  contract name whose issue has not landed) are answers, not failures; INTERNAL is the server's
  own failure. Schemathesis reads these markers to tell a refused request from a server error, so
  the project's codes are added to its lists: a 5xx, a dropped connection or an INTERNAL error
  still fails the `not_a_server_error` check.
"""

from hypothesis import strategies as st

import schemathesis
from schemathesis.graphql import nodes
from schemathesis.specs.graphql import validation

CALLER_FAULT_CODES = frozenset(
    {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "OUT_OF_STOCK",
        "BAD_USER_INPUT",
        "NOT_IMPLEMENTED",
    }
)
SERVER_FAULT_CODES = frozenset({"INTERNAL"})

# The pinned schemathesis keeps both lists here; fail loudly if an upgrade moves them.
assert isinstance(validation.CLIENT_ERROR_MARKERS, frozenset), "schemathesis moved CLIENT_ERROR_MARKERS"
assert isinstance(validation.SERVER_ERROR_MARKERS, frozenset), "schemathesis moved SERVER_ERROR_MARKERS"
validation.CLIENT_ERROR_MARKERS = validation.CLIENT_ERROR_MARKERS | CALLER_FAULT_CODES
validation.SERVER_ERROR_MARKERS = validation.SERVER_ERROR_MARKERS | SERVER_FAULT_CODES

EDGE_DECIMALS = [
    "0",
    "-0",
    "0.00",
    "19.99",
    "-19.99",
    "0.005",
    "79228162514264337593543950335",
    "-79228162514264337593543950335",
    "79228162514264337593543950336",
    "0.0000000000000000000000000001",
    "0.00000000000000000000000000001",
    "99999999999999999999.999999999",
    "1e3",
    "1E-3",
    " 12.5 ",
    "",
    ".",
    "-",
    "+1",
    "NaN",
    "Infinity",
    "1_000",
    "12,50",
]

decimals = st.one_of(
    st.sampled_from(EDGE_DECIMALS),
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.integers().map(str),
    st.text(max_size=50),
)
schemathesis.graphql.scalar("Decimal", decimals.map(nodes.String))

json_values = st.one_of(
    st.text(max_size=50).map(nodes.String),
    st.integers(min_value=-(2**31), max_value=2**31 - 1).map(nodes.Int),
    st.booleans().map(nodes.Boolean),
    st.just(nodes.Null),
)
schemathesis.graphql.scalar("JSON", json_values)
