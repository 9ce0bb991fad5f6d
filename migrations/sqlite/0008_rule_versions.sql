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
-- The sets saved before versioning become their tenant's first kept version.
INSERT INTO rule_set_versions (tenant_id, version, yaml, scripts, published_at, published_by, comment)
    SELECT r.tenant_id, COALESCE(v.version, 1), r.yaml, r.scripts, r.updated_at, 'scimgate',
           'published before rule versions were kept'
    FROM rule_sets r
    LEFT JOIN edit_versions v ON v.tenant_id = r.tenant_id AND v.aggregate = 'rule_set';

CREATE TABLE rule_set_drafts (
    tenant_id    INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    -- the published version the draft was begun from (0: none was published)
    base_version INTEGER NOT NULL,
    yaml         TEXT NOT NULL,
    scripts      TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    updated_by   TEXT NOT NULL
);
