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
    // Services poll: an unchanged bundle is answered from its version alone, without reading
    // its policies.
    let newest = server
        .inner
        .store
        .policy_version(name)
        .await
        .map_err(failed)?;
    let tag = etag(newest);
    if newest > 0 && headers.get(header::IF_NONE_MATCH) == Some(&tag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response());
    }
    let current = (server.inner.store.service_policies(name).await)
        .map_err(failed)?
        .ok_or_else(|| PolicyError::NotFound(format!("service {name} has no policies")))?;
    let tag = etag(current.version);
    let bundle = bundle_of(name, &current)?;
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
