"""Runs python-scim's scim2-tester, the whole suite, against a running scimgate.

Discovery (ServiceProviderConfig, ResourceTypes, Schemas), then for each resource type the
server publishes: create, read, list, attributes/excludedAttributes, /.search, replace,
delete and PATCH add/remove/replace on every attribute. Prints one line per check, then
`scim2-tester: N passed, M failed[, K skipped]`; exits 1 when a check failed or none passed.

Usage: run.py BASE_URL [TOKEN]     (TOKEN defaults to $SCIMGATE_TOKEN)
  e.g. run.py http://127.0.0.1:8080/scim/v2/acme "$TOKEN"
Needs the venv made by scripts/ensure-scim2-tester.sh.
"""

import argparse
import os
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

# check_server runs the resource checks only for the resource types the server publishes and
# silently drops them when discovery cannot describe the server: scimgate serves both.
EXPECTED_RESOURCE_TYPES = ("User", "Group")
FAILED = (Status.ERROR, Status.CRITICAL)  # MUST / security violations
# Everything else but SKIPPED passes: SUCCESS, and the SHOULD/MAY grades (COMPLIANT,
# ACCEPTABLE, DEVIATION) that the tool defines but 0.5.2 does not report.


def one_line(text):
    return " | ".join(str(text).split("\n")) if text else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base_url", help="SCIM base, e.g. http://127.0.0.1:8080/scim/v2/acme")
    parser.add_argument("token", nargs="?", default=os.environ.get("SCIMGATE_TOKEN"))
    parser.add_argument("-v", "--verbose", action="store_true", help="print the data of failed checks")
    args = parser.parse_args()
    if not args.token:
        parser.error("no token: pass it as the second argument or in $SCIMGATE_TOKEN")

    http = Client(
        base_url=args.base_url,
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=30,  # a debug build on a busy CI machine can be slow; the default is 5 s
    )
    # No provider given: check_server discovers the server from its own endpoints.
    # raise_exceptions=False (the default) keeps going after a failed check.
    results = check_server(SyncSCIMClient(http))

    passed = failed = skipped = 0
    for r in results:
        name = f"{r.resource_type}/{r.title}" if r.resource_type else r.title
        print(f"{name}: {r.status.name}: {one_line(r.reason)}")
        if r.status in FAILED:
            failed += 1
            if args.verbose and r.data is not None:
                print(f"    data: {one_line(r.data)}")
        elif r.status == Status.SKIPPED:
            skipped += 1
        else:
            passed += 1

    # The full suite or nothing: a discovery failure must not shrink the run to discovery.
    tested = {r.resource_type for r in results if r.resource_type}
    for missing in (t for t in EXPECTED_RESOURCE_TYPES if t not in tested):
        print(f"{missing}/resource_type_tests: ERROR: no {missing} checks ran (not discovered)")
        failed += 1

    summary = f"scim2-tester: {passed} passed, {failed} failed"
    print(summary + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
