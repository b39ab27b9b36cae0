-- The hardening review (issue 10): introspection is a per-client permission, API tokens are bound
-- to audiences (tokens created before this carry none and are active to no resource server: re-issue
-- them), login attempts are counted in the database so replicas share the throttle, and every
-- foreign key and purge column is indexed.
ALTER TABLE palisade_clients ADD COLUMN may_introspect BIGINT NOT NULL DEFAULT 0;
ALTER TABLE palisade_api_tokens ADD COLUMN audiences TEXT NOT NULL DEFAULT '[]';
CREATE TABLE palisade_login_attempts (
    throttle_key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    attempts BIGINT NOT NULL
);
CREATE INDEX palisade_clients_tenant ON palisade_clients (tenant_id);
CREATE INDEX palisade_api_tokens_tenant ON palisade_api_tokens (tenant_id);
CREATE INDEX palisade_api_tokens_expiry ON palisade_api_tokens (expires_at);
CREATE INDEX palisade_login_requests_expiry ON palisade_login_requests (expires_at);
CREATE INDEX palisade_families_user ON palisade_families (user_id);
CREATE INDEX palisade_families_client ON palisade_families (client_id);
CREATE INDEX palisade_families_created ON palisade_families (created_at);
CREATE INDEX palisade_codes_family ON palisade_codes (family_id);
CREATE INDEX palisade_codes_expiry ON palisade_codes (expires_at);
CREATE INDEX palisade_refresh_tokens_family ON palisade_refresh_tokens (family_id);
CREATE INDEX palisade_refresh_tokens_expiry ON palisade_refresh_tokens (expires_at);
CREATE INDEX palisade_access_tokens_family ON palisade_access_tokens (family_id);
CREATE INDEX palisade_access_tokens_expiry ON palisade_access_tokens (expires_at);
CREATE INDEX palisade_assertion_ids_expiry ON palisade_assertion_ids (expires_at);
CREATE INDEX palisade_sessions_user ON palisade_sessions (user_id);
CREATE INDEX palisade_sessions_expiry ON palisade_sessions (expires_at);
CREATE INDEX palisade_login_attempts_window ON palisade_login_attempts (window_start);
