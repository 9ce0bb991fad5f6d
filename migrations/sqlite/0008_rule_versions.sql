-- Rule sets are versioned: every publish keeps the set as it was published (who, when,
-- why), and a tenant may have one draft that preview can run against while sync keeps
-- using the published set (`rule_sets`). A published version's number is the rule
-- set's edit version (`edit_versions`, aggregate 'rule_set') at that publish.
CREATE TABLE rule_set_versions (
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    yaml         TEXT NOT NULL,
    -- JSON object: script file name -> script text
    scripts      TEXT NOT NULL,
    published_at TEXT NOT NULL,
    published_by TEXT NOT NULL,
    comment      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, version)
);
-- The sets saved before versioning become their tenant's first kept version. A set saved
-- before edit versions existed (migration 0004) has no counter yet: it starts at 1, so
-- the next publish, numbered from the counter, is 2 and not a second version 1.
INSERT INTO edit_versions (tenant_id, aggregate, version, changed_at)
    SELECT r.tenant_id, 'rule_set', 1, r.updated_at FROM rule_sets r
    WHERE NOT EXISTS (SELECT 1 FROM edit_versions v
                      WHERE v.tenant_id = r.tenant_id AND v.aggregate = 'rule_set');
UPDATE edit_versions SET version = 1
    WHERE aggregate = 'rule_set' AND version = 0
      AND tenant_id IN (SELECT tenant_id FROM rule_sets);
INSERT INTO rule_set_versions (tenant_id, version, yaml, scripts, published_at, published_by, comment)
    SELECT r.tenant_id, v.version, r.yaml, r.scripts, r.updated_at, 'scimgate',
           'published before rule versions were kept'
    FROM rule_sets r
    JOIN edit_versions v ON v.tenant_id = r.tenant_id AND v.aggregate = 'rule_set';

CREATE TABLE rule_set_drafts (
    tenant_id    INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    -- the published version the draft was begun from (0: none was published)
    base_version INTEGER NOT NULL,
    yaml         TEXT NOT NULL,
    scripts      TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    updated_by   TEXT NOT NULL
);
