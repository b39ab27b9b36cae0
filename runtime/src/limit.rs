//! Rate limits per source address and per authenticated client (GCRA through `governor`): a request over its key's rate is answered 429 with `Retry-After` before it costs anything more.
//!
//! The address limit runs before authentication, so a flood of unauthenticated requests from one
//! address is refused before any signature is checked; the client limit runs after it, keyed by the
//! token's client (or its tenant and subject), so one noisy client cannot starve the others.
//! IPv6 addresses are limited per /64, the block one subscriber usually holds. The source address
//! is the peer of the TCP connection (`ConnectInfo<SocketAddr>`, set by [`crate::serve`]); behind a
//! proxy every request shares the proxy's address, so raise or disable the address limit there and
//! rely on the proxy's own.

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use http::{HeaderValue, Request, StatusCode, header};

use crate::check::{AsyncCheck, CheckLayer};
use crate::principal::Principal;
use crate::problem::Problem;

/// A sustained rate and the burst allowed above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: NonZeroU32,
    /// Requests allowed at once after a quiet period.
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// `per_second` sustained with a burst of `burst`; `None` when either is zero.
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        Some(Self {
            per_second: NonZeroU32::new(per_second)?,
            burst: NonZeroU32::new(burst)?,
        })
    }

    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// The limits the security stack applies; `None` turns one off. [`RateLimits::default`] holds the
/// strict defaults: 100 requests per second per address (burst 200) and 50 per client (burst 100).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Per source address, before authentication.
    pub per_address: Option<RateLimit>,
    /// Per authenticated client, after authentication.
    pub per_client: Option<RateLimit>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_address: RateLimit::new(100, 200),
            per_client: RateLimit::new(50, 100),
        }
    }
}

impl RateLimits {
    /// No limits (benchmarks of the bare stack, or a proxy that limits instead).
    pub fn off() -> Self {
        Self {
            per_address: None,
            per_client: None,
        }
    }
}

/// Which requests a limiter counts together.
pub trait LimitKey: Clone + Send + Sync + 'static {
    /// The key type.
    type Key: Clone + Hash + Eq + Send + Sync + 'static;
    /// The request's key; `None` passes the request through uncounted.
    fn key<B>(&self, request: &Request<B>) -> Option<Self::Key>;
}

/// Keys requests by the peer address (IPv6 by /64).
#[derive(Clone, Copy, Debug, Default)]
pub struct ByAddress;

impl LimitKey for ByAddress {
    type Key = IpAddr;
    fn key<B>(&self, request: &Request<B>) -> Option<IpAddr> {
        let ConnectInfo(peer) = request.extensions().get::<ConnectInfo<SocketAddr>>()?;
        Some(match peer.ip() {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(Ipv6Addr::from(prefix))
                }
            },
            v4 => v4,
        })
    }
}

/// Keys requests by the authenticated caller: its tenant, subject and client together, so the
/// users of one public client (a single-page application) each get their own rate.
#[derive(Clone, Copy, Debug, Default)]
pub struct ByClient;

impl LimitKey for ByClient {
    type Key = (String, String, Option<String>);
    fn key<B>(&self, request: &Request<B>) -> Option<Self::Key> {
        let principal = request.extensions().get::<Principal>()?;
        Some((
            principal.tenant.to_string(),
            principal.subject.clone(),
            principal.client_id.clone(),
        ))
    }
}

/// How many distinct keys are held before idle ones are forgotten.
const RETAIN_THRESHOLD: usize = 10_000;

/// The check behind [`RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimitCheck<K: LimitKey> {
    keys: K,
    limiter: Option<Arc<DefaultKeyedRateLimiter<K::Key>>>,
    refused: Arc<AtomicU64>,
}

/// A tower layer refusing requests over their key's rate with 429 and `Retry-After`.
pub type RateLimitLayer<K> = CheckLayer<RateLimitCheck<K>>;

impl<K: LimitKey> RateLimitLayer<K> {
    /// A limiter keying requests with `keys` at `limit`; `None` lets every request through.
    pub fn limit(keys: K, limit: Option<RateLimit>) -> Self {
        CheckLayer::new(RateLimitCheck {
            keys,
            limiter: limit.map(|l| Arc::new(DefaultKeyedRateLimiter::keyed(l.quota()))),
            refused: Arc::new(AtomicU64::new(0)),
        })
    }
}

impl<K: LimitKey> RateLimitCheck<K> {
    /// Requests refused since start-up.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn admit(&self, key: &K::Key) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() > RETAIN_THRESHOLD {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter
            .check_key(key)
            // The limiter's own clock: a new `DefaultClock` calibrates itself (tens of
            // microseconds), which made every refusal cost more than an admitted request.
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }
}

impl<K: LimitKey, B: Send + 'static> AsyncCheck<B> for RateLimitCheck<K> {
    fn check(&self, request: Request<B>) -> BoxFuture<'static, Result<Request<B>, Response>> {
        let verdict = match (&self.limiter, self.keys.key(&request)) {
            (Some(_), Some(key)) => self.admit(&key),
            _ => Ok(()),
        };
        let result = match verdict {
            Ok(()) => Ok(request),
            Err(wait) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(too_many_requests(wait))
            }
        };
        Box::pin(std::future::ready(result))
    }
}

/// 429 with `Retry-After` in whole seconds, rounded up (at least 1).
pub fn too_many_requests(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = Problem::new(StatusCode::TOO_MANY_REQUESTS, "too many requests")
        .with_detail(format!("retry after {} s", seconds.max(1)))
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_from(ip: &str) -> Request<()> {
        let mut request = Request::new(());
        let peer: SocketAddr = format!("{ip}:4000").parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    }

    #[test]
    fn ipv6_peers_share_their_64_block_and_mapped_ipv4_is_ipv4() {
        let a = ByAddress
            .key(&request_from("[2001:db8:1:2:aaaa::1]"))
            .unwrap();
        let b = ByAddress
            .key(&request_from("[2001:db8:1:2:bbbb::2]"))
            .unwrap();
        let c = ByAddress.key(&request_from("[2001:db8:1:3::1]")).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mapped = ByAddress.key(&request_from("[::ffff:192.0.2.7]")).unwrap();
        assert_eq!(mapped, "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_key_over_its_burst_waits_and_others_do_not() {
        let layer = RateLimitLayer::limit(ByAddress, RateLimit::new(1, 2));
        let check = layer_check(&layer);
        let key: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(check.admit(&key).is_ok());
        assert!(check.admit(&key).is_ok());
        let wait = check.admit(&key).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(check.admit(&"192.0.2.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let response = too_many_requests(Duration::from_millis(1_200));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(
            too_many_requests(Duration::from_millis(5)).headers()[header::RETRY_AFTER],
            "1"
        );
    }

    fn layer_check<K: LimitKey>(layer: &RateLimitLayer<K>) -> RateLimitCheck<K> {
        layer.check().clone()
    }
}
