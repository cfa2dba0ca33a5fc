"""`make soak`: the randomized fault and crash suite at scale, outside `make test`.

Seeded scenario runs (random faults, SIGKILL of a real `python -m syncer` at the k-th matching
request, then a clean run) and a catalogue of bad inputs (mangled API replies, config values,
CLI arguments), all checked with the invariants in `tests/faultkit.py`. Entry point:
`python -m tests.soak --help`.
"""
