//! `GET /policies/bundle` (the calling service's signed bundle, `ETag` and `If-None-Match`) and the verifying key services check it with.

use super::*;

pub(super) async fn key(State(server): State<AuthorizationServer>) -> Result<Response, Problem> {
    let service = service(&server)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        format!("{}\n", service.verifying_key()),
    )
        .into_response())
}

/// `GET /policies/bundle`: the calling service's bundle (its token for `palisade-policy` with
/// `policy:read` names it), signed, with its version as `ETag`; 304 for `If-None-Match` of it.
pub(super) async fn serve_bundle(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let policy_service = service(&server)?;
    let claims = scoped_token(&server, &headers, POLICY_AUDIENCE, POLICY_READ_SCOPE).await?;
    // The service itself (a client-credentials token: subject and client the same), never a
    // user's token issued through that client.
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let Some(name) = text("client_id").filter(|client| text("sub") == Some(*client)) else {
        return Err(Problem::forbidden().with_detail("a service token (client credentials)"));
    };
    let current = current(&server, name).await?;
    let tag = etag(current.version);
    if headers.get(header::IF_NONE_MATCH) == Some(&tag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response());
    }
    let mut tenants = std::collections::BTreeMap::new();
    for (tenant, (active, shadow)) in current.sets.iter().filter(|(t, _)| !t.is_empty()) {
        tenants.insert(
            tenant.clone(),
            TenantPolicies {
                version: u64::try_from(active.as_ref().map_or(0, |r| r.version)).unwrap_or(0),
                active: files_of(active.as_ref())?,
                shadow: shadow.as_ref().map(|s| files_of(Some(s))).transpose()?,
            },
        );
    }
    let bundle = Bundle {
        format: BUNDLE_FORMAT,
        service: name.to_owned(),
        version: u64::try_from(current.version).unwrap_or(0),
        schema: BundleFile {
            name: "schema.cedarschema".to_owned(),
            text: current.schema.clone(),
        },
        base: files_of(current.sets.get("").and_then(|(a, _)| a.as_ref()))?,
        tenants,
    };
    let body = serde_json::to_vec(&bundle).map_err(failed)?;
    let signature = policy_service.signer.sign(&body);
    Ok((
        [
            (header::ETAG, tag),
            (
                header::HeaderName::from_static(SIGNATURE_HEADER),
                HeaderValue::from_str(&signature).map_err(failed)?,
            ),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}
