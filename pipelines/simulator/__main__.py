"""`python -m pipelines.simulator --port 8765`: serve a simulated amoCRM account until Ctrl-C.

`--accounts N` and/or `--account key:seed:leads:timezone:currency` (repeatable) serve several accounts
at once, one port each from `--port` on, and print the extractor's environment for all of them.
"""

from __future__ import annotations

import argparse
import signal

from . import SimulatedAccount, Simulator
from .hub import Simulators
from .profiles import AccountSpec, derived_specs, parse_spec


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.simulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 = any free port; several accounts: port, port+1, ...")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--leads", type=int, default=5000, help="leads that exist at the simulated now")
    parser.add_argument("--now", type=int, default=None, help="simulated now, unix seconds (default: this hour)")
    parser.add_argument("--shapes", choices=("live", "documented"), default="live",
                        help="JSON shapes: as captured from live accounts (default) or as documented")
    parser.add_argument("--rate-limit", type=int, default=7, help="requests per second; 0 = unlimited")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay every answer by this much")
    parser.add_argument("--accounts", type=int, default=None, metavar="N",
                        help="serve N accounts acc1..accN (own ids, subdomains, timezones and currencies; "
                             "seeds --seed, --seed+1, ...; --leads each)")
    parser.add_argument("--account", action="append", default=[], metavar="KEY:SEED:LEADS:TZ:CURRENCY",
                        help="serve this account too (repeatable; empty fields take the derived values), "
                             "e.g. acme:7:500:Asia/Almaty:KZT")
    args = parser.parse_args(argv)
    if args.accounts is not None and args.accounts < 1:
        parser.error(f"--accounts must be at least 1, got {args.accounts}")
    if args.accounts or args.account:
        try:
            specs = _specs(args)
        except ValueError as exc:
            parser.error(str(exc))
        _serve_many(args, specs)
    else:
        _serve_one(args)


def _specs(args) -> list[AccountSpec]:
    specs = derived_specs(args.accounts, args.seed, args.leads) if args.accounts else []
    for text in args.account:
        specs.append(parse_spec(text, len(specs) + 1, args.seed, args.leads))
    keys = [s.key for s in specs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"account key(s) {', '.join(twice)} given twice (--accounts N names its accounts "
                         "acc1..accN)")
    return specs


def _serve_one(args) -> None:
    account = SimulatedAccount.generate(seed=args.seed, leads=args.leads, now=args.now, shapes=args.shapes)
    sim = Simulator(account, host=args.host, port=args.port, rate_limit=args.rate_limit or None).start()
    sim.faults.latency_ms = args.latency_ms
    print(f"amoCRM simulator: {sim.base_url}  (account {args.leads} leads, seed {args.seed}, now {sim.clock.now})")
    print(f"long-lived token: {sim.long_lived_token}")
    print(f"OAuth client_id: {sim.oauth.client_id}")
    print(f"OAuth client_secret: {sim.oauth.client_secret}")
    print(f"OAuth redirect_uri: {sim.oauth.redirect_uri}")
    print(f"authorization code (20 simulated minutes, single use): {sim.issue_authorization_code()}")
    _wait(sim.serve_forever, sim.stop)


def _serve_many(args, specs: list[AccountSpec]) -> None:
    hub = Simulators.generate(specs, now=args.now, shapes=args.shapes, host=args.host, first_port=args.port,
                              latency_ms=args.latency_ms, rate_limit=args.rate_limit or None).start()
    for spec in specs:
        sim, pr = hub[spec.key], spec.profile
        print(f"{spec.key}: {sim.base_url}  (account {pr.account_id} '{pr.subdomain}', {pr.timezone}, {pr.currency}; "
              f"{spec.leads} leads, seed {spec.seed}, now {sim.clock.now})")
    print("\nenvironment for the extractor (one block per account):")
    for name, value in hub.env().items():
        print(f"{name}={value}")
    _wait(next(iter(hub.simulators.values())).serve_forever, hub.stop)


def _wait(serve_forever, stop) -> None:
    """Serve until Ctrl-C or SIGTERM. Both are handled explicitly: a process started in the background
    (`&` in a script, some test runners) inherits SIGINT ignored and would otherwise never stop."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print("serving; Ctrl-C to stop", flush=True)
    try:
        serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop()


if __name__ == "__main__":
    main()
