"""`python -m benchmarks [name ...]`: run the named benchmarks, or all of them."""

import importlib
import pkgutil
import sys

import benchmarks


def main(names: list[str]) -> None:
    available = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_"))
    for name in names or available:
        if name not in available:
            sys.exit(f"unknown benchmark {name!r}; available: {', '.join(available)}")
        print(f"== benchmark: {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
