//! The per-route tower layer the gateway puts on metered routes.

use crate::limiter::{internal_problem, Limiter};
use crate::operation::Operation;
use crate::tier::TierLimits;
use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Who is calling, as the gateway's authentication middleware found out:
/// insert it into the request extensions before the [`LimitLayer`] runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitSubject {
    /// The authenticated tenant (`ten_…`).
    pub tenant_id: String,
    /// The tenant's limits: `TierLimits::for_tier(tier).with_overrides(..)`.
    pub limits: TierLimits,
}

/// Layer that meters and limits one operation: for each request it reads
/// the [`LimitSubject`] from the extensions, asks the [`Limiter`], and
/// either answers 429 (problem document, `RateLimit-*` and `Retry-After`
/// headers; the handler does not run) or runs the handler and adds the
/// `RateLimit-*` headers to its response. A request without a
/// [`LimitSubject`] is a wiring bug: it gets a 500 problem and an error log
/// (fail closed).
#[derive(Clone, Debug)]
pub struct LimitLayer {
    limiter: Limiter,
    op: Option<Operation>,
}

impl LimitLayer {
    /// A layer for `op`.
    pub fn new(limiter: Limiter, op: Operation) -> Self {
        LimitLayer {
            limiter,
            op: Some(op),
        }
    }

    /// A layer that finds the operation itself from the method and axum's
    /// `MatchedPath` ([`Operation::for_route`]); unmetered routes pass
    /// through untouched (no headers, no [`LimitSubject`] needed), and so
    /// do requests that matched no route. Install it on the router
    /// (`Router::route_layer` or `Router::layer`, where axum knows the
    /// `MatchedPath`), inside the authentication layer — not around the
    /// finished router as a service, where nothing would be metered.
    pub fn by_route(limiter: Limiter) -> Self {
        LimitLayer { limiter, op: None }
    }
}

impl Limiter {
    /// A [`LimitLayer`] for `op` (e.g.
    /// `post(encrypt).layer(limiter.layer(Operation::Encrypt))`).
    pub fn layer(&self, op: Operation) -> LimitLayer {
        LimitLayer::new(self.clone(), op)
    }

    /// A [`LimitLayer::by_route`] layer for a whole router
    /// (`router.route_layer(limiter.route_layer())`).
    pub fn route_layer(&self) -> LimitLayer {
        LimitLayer::by_route(self.clone())
    }
}

impl<S> tower::Layer<S> for LimitLayer {
    type Service = LimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LimitService {
            inner,
            limiter: self.limiter.clone(),
            op: self.op,
        }
    }
}

/// The service of [`LimitLayer`].
#[derive(Clone, Debug)]
pub struct LimitService<S> {
    inner: S,
    limiter: Limiter,
    op: Option<Operation>,
}

impl<S> tower::Service<Request<Body>> for LimitService<S>
where
    S: tower::Service<Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The ready clone is the one that was polled (tower's usual idiom).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limiter = self.limiter.clone();
        // Fixed operation, or (by route) the route's operation if metered.
        // No `MatchedPath` means no route matched (the 404 fallback).
        let op = self.op.or_else(|| {
            req.extensions()
                .get::<axum::extract::MatchedPath>()
                .and_then(|p| Operation::for_route(req.method(), p.as_str()))
        });
        Box::pin(async move {
            let Some(op) = op else {
                return inner.call(req).await;
            };
            let Some(subject) = req.extensions().get::<LimitSubject>().cloned() else {
                tracing::error!(
                    operation = op.as_str(),
                    "metered route reached without a LimitSubject"
                );
                return Ok(internal_problem());
            };
            match limiter
                .enforce(&subject.tenant_id, &subject.limits, op)
                .await
            {
                Err(refusal) => Ok(refusal),
                Ok(decision) => {
                    let mut response = inner.call(req).await?;
                    decision.apply_headers(response.headers_mut());
                    Ok(response)
                }
            }
        })
    }
}
