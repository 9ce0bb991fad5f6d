-- Optimistic concurrency for what admins edit: one version per tenant and aggregate
-- (rule_set, catalog, settings, subscriptions), read with the aggregate and required by
-- every write, which bumps it. A write naming an older version is refused (409), so two
-- admins cannot silently overwrite each other. No row yet means version 0.
CREATE TABLE edit_versions (
    tenant_id   BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    aggregate   TEXT NOT NULL,
    version     BIGINT NOT NULL,
    changed_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, aggregate)
);
