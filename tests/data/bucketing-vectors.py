"""Writes tests/data/bucketing-vectors.json from flagd's reference implementation of `fractional`
hashing (the Python core's: cbor2 canonical encoding, mmh3 unsigned), not from flagwarden's code, so
the Rust tests and the engine tests check flagwarden against the spec rather than against itself.

    .venv/bin/python tests/data/bucketing-vectors.py > tests/data/bucketing-vectors.json
"""

import json

import cbor2
import mmh3

WEIGHTS = [10_000, 100, 2, 3, 7, 1_000_000, 2_147_483_647]

VALUES = [
    "",
    "a",
    "new-checkout/user-1",
    "new-checkout/user-2",
    "dark-mode/42",
    "checkout/ユーザー-7",
    "pricing/émile@example.fr",
    "salt/🙂",
    "x" * 23,
    "x" * 24,
    "flag/" + "k" * 18,
    "flag/" + "k" * 19,
    "y" * 255,
    "y" * 256,
    "z" * 300,
    # Written as {"repeat": "w", "times": n} to keep the file small: the 4-byte CBOR length form.
    ("w", 65_535),
    ("w", 65_536),
]


def main() -> None:
    vectors = []
    for entry in VALUES:
        if isinstance(entry, tuple):
            value = entry[0] * entry[1]
            shown = {"repeat": entry[0], "times": entry[1]}
        else:
            value = entry
            shown = {"value": value}
        spec = mmh3.hash(cbor2.dumps(value, canonical=True), signed=False)
        raw = mmh3.hash(value.encode(), signed=False)
        vectors.append(
            {
                **shown,
                "utf8_bytes": len(value.encode()),
                "cbor_murmur3": spec,
                "raw_murmur3": raw,
                "slots": {str(w): (spec * w) >> 32 for w in WEIGHTS},
                "raw_slots": {str(w): (raw * w) >> 32 for w in WEIGHTS},
            }
        )
    print(
        json.dumps(
            {
                "about": "flagd fractional bucketing: murmur3 x86_32 (seed 0) of the canonical CBOR "
                "encoding of the bucketing value (cbor_murmur3), slot = (hash * total_weight) >> 32 "
                "(slots, by total weight). raw_murmur3 and raw_slots hash the UTF-8 bytes alone, as "
                "@openfeature/flagd-core 4.0.1 does. Written by bucketing-vectors.py.",
                "vectors": vectors,
            },
            ensure_ascii=False,
            indent=1,
        )
    )


main()
