"""Benchmarks: each module here has a `main()` that prints measured figures.

Run all with `make bench` (`python -m benchmarks`), or one with
`python -m benchmarks simulator`. They are not part of the test suite.
"""
