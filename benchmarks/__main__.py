"""`python -m benchmarks [name ...]`: run the named benchmarks, or all of them (measured figures, not tests)."""

import argparse
import importlib
import pkgutil

import benchmarks


def main(argv: list[str] | None = None) -> None:
    available = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_"))
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=f"one of: {', '.join(available)} (default: all)")
    names = parser.parse_args(argv).names
    unknown = [name for name in names if name not in available]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; available: {', '.join(available)}")
    for name in names or available:
        print(f"== benchmark: {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()


if __name__ == "__main__":
    main()
