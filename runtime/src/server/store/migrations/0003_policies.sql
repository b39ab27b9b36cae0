-- The policy service (issue 14): each service's Cedar schema and its policy sets (the base set as
-- tenant '', one set per tenant otherwise), every version kept. Versions are allocated per service
-- across its schema and all its sets, so the highest is the version of the service's bundle.
CREATE TABLE palisade_policy_schemas (
    service TEXT NOT NULL,
    version BIGINT NOT NULL,
    schema_text TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (service, version)
);
CREATE TABLE palisade_policy_sets (
    service TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    mode TEXT NOT NULL,
    files TEXT NOT NULL,
    hash TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (service, tenant_id, version)
);
