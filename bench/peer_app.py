"""The peer of the benchmark: scim2-server (PyPI), in memory, as a WSGI app for gunicorn.

Built the way the `scim2-server` command builds its app, with one static bearer token.
It keeps everything in memory and commits nothing to disk, so it must run as a single
gunicorn worker (threads for concurrency); scimgate is measured with durable commits.
"""

import os
import secrets

from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME
from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.utils import load_default_resource_types
from scim2_server.utils import load_default_schemas
from scim2_server.utils import load_default_service_provider_config

TOKEN = os.environ.get("PEER_TOKEN", "peer-token")

config = load_default_service_provider_config()
config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
provider = ScimProvider.from_discovery(
    load_default_schemas().values(), load_default_resource_types().values(), config=config
)
app = BearerTokenApplication(
    InMemoryStorage(),
    provider,
    service=ScimService(provider, secret=secrets.token_urlsafe(32)),
    bearer_tokens=[TOKEN],
)
