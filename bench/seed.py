"""Seeds a SCIM server over HTTP for the benchmark: N users (Entra-shaped) and GROUPS
groups (default 1).

Writes the created user ids (one per line) to IDS_FILE and the group ids (one per line)
to GROUP_FILE.
Usage: seed.py BASE_URL TOKEN N IDS_FILE GROUP_FILE [GROUPS]
"""

import http.client
import json
import sys
import threading
import urllib.parse

base, token, count, ids_file, group_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
group_count = int(sys.argv[6]) if len(sys.argv) > 6 else 1
url = urllib.parse.urlparse(base)
HEADERS = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}


def user(i):
    name = f"seed-{i}@bench.example"
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": f"ext-{i}",
        "userName": name,
        "active": True,
        "displayName": f"Seed User {i}",
        "emails": [{"primary": True, "type": "work", "value": name}],
        "name": {"formatted": f"Seed User {i}", "familyName": "User", "givenName": f"Seed{i}"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"},
    }


def post(conn, path, body):
    conn.request("POST", url.path + path, body=json.dumps(body), headers=HEADERS)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 201:
        raise SystemExit(f"seeding failed: {resp.status} {data[:300]!r}")
    return json.loads(data)["id"]


ids = [None] * count


def worker(start, step):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    for i in range(start, count, step):
        ids[i] = post(conn, "/Users", user(i))


threads = [threading.Thread(target=worker, args=(k, 8)) for k in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
groups = [
    post(conn, "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                           "displayName": "Bench group" if k == 0 else f"Bench group {k}"})
    for k in range(group_count)
]
with open(ids_file, "w") as f:
    f.write("\n".join(ids) + "\n")
with open(group_file, "w") as f:
    f.write("\n".join(groups) + "\n")
