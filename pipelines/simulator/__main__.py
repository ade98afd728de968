"""`python -m pipelines.simulator --port 8765`: serve a simulated amoCRM account until Ctrl-C."""

from __future__ import annotations

import argparse

from . import SimulatedAccount, Simulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 = any free port")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--leads", type=int, default=5000, help="leads that exist at the simulated now")
    parser.add_argument("--now", type=int, default=None, help="simulated now, unix seconds (default: this hour)")
    parser.add_argument("--shapes", choices=("live", "documented"), default="live",
                        help="JSON shapes: as captured from live accounts (default) or as documented")
    parser.add_argument("--rate-limit", type=int, default=7, help="requests per second; 0 = unlimited")
    args = parser.parse_args(argv)

    account = SimulatedAccount.generate(seed=args.seed, leads=args.leads, now=args.now, shapes=args.shapes)
    sim = Simulator(account, host=args.host, port=args.port, rate_limit=args.rate_limit or None).start()
    print(f"amoCRM simulator: {sim.base_url}  (account {args.leads} leads, seed {args.seed}, now {sim.clock.now})")
    print(f"long-lived token: {sim.long_lived_token}")
    print(f"OAuth client_id: {sim.oauth.client_id}")
    print(f"OAuth client_secret: {sim.oauth.client_secret}")
    print(f"OAuth redirect_uri: {sim.oauth.redirect_uri}")
    print(f"authorization code (20 simulated minutes, single use): {sim.issue_authorization_code()}")
    print("serving; Ctrl-C to stop", flush=True)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
