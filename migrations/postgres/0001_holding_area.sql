-- Tenants, SCIM tokens and the holding area (staged users, groups, memberships).
CREATE TABLE tenants (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    -- bumped on every SCIM write; the scheduler syncs what changed since it last looked
    change_seq  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE scim_tokens (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    label       TEXT NOT NULL,
    -- SHA-256 of the token, hex; the token itself is shown once and never stored
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX scim_tokens_tenant ON scim_tokens(tenant_id);

CREATE TABLE staged_users (
    pk                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id           BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id                  TEXT NOT NULL,
    user_name_folded    TEXT NOT NULL,
    external_id         TEXT,
    display_name_folded TEXT,
    active              BIGINT,
    -- the folded e-mail values, newline-separated: lets a write skip rewriting the
    -- e-mail index when the e-mails did not change
    emails_folded       TEXT NOT NULL DEFAULT '',
    body                TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    modified_at         TEXT NOT NULL,
    version             BIGINT NOT NULL,
    change_seq          BIGINT NOT NULL
);
CREATE UNIQUE INDEX staged_users_id ON staged_users(tenant_id, id);
CREATE UNIQUE INDEX staged_users_user_name ON staged_users(tenant_id, user_name_folded);
CREATE INDEX staged_users_external_id ON staged_users(tenant_id, external_id);
CREATE INDEX staged_users_display_name ON staged_users(tenant_id, display_name_folded);
CREATE INDEX staged_users_change_seq ON staged_users(tenant_id, change_seq);

CREATE TABLE staged_user_emails (
    tenant_id    BIGINT NOT NULL,
    user_id      TEXT NOT NULL,
    value_folded TEXT NOT NULL
);
CREATE INDEX staged_user_emails_value ON staged_user_emails(tenant_id, value_folded);
CREATE INDEX staged_user_emails_user ON staged_user_emails(tenant_id, user_id);

CREATE TABLE staged_groups (
    pk                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id           BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id                  TEXT NOT NULL,
    external_id         TEXT,
    display_name_folded TEXT,
    body                TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    modified_at         TEXT NOT NULL,
    version             BIGINT NOT NULL,
    change_seq          BIGINT NOT NULL
);
CREATE UNIQUE INDEX staged_groups_id ON staged_groups(tenant_id, id);
CREATE INDEX staged_groups_external_id ON staged_groups(tenant_id, external_id);
CREATE INDEX staged_groups_display_name ON staged_groups(tenant_id, display_name_folded);
CREATE INDEX staged_groups_change_seq ON staged_groups(tenant_id, change_seq);

-- One row per member: adding or removing members costs O(batch), never a rewrite of the group.
CREATE TABLE staged_group_members (
    tenant_id   BIGINT NOT NULL,
    group_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    member_type TEXT,
    display     TEXT,
    PRIMARY KEY (tenant_id, group_id, member_id)
);
CREATE INDEX staged_group_members_member ON staged_group_members(tenant_id, member_id);
