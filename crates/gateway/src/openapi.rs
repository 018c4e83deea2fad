//! The OpenAPI 3.1 document (generated from the handlers' annotations) and
//! the self-contained HTML reference page at `/docs`.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::problem::ProblemDocument;

/// Base document: info, security schemes, shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zenalyze Encryption Service",
        description = "End-to-end encrypted storage and platform-key services for healthcare apps. The server stores envelopes it cannot read. Errors are RFC 9457 problem documents whose `type` is under https://zenalyze.dev/problems/.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(ProblemDocument)),
    modifiers(&Security),
    tags(
        (name = "records", description = "Encrypted records"),
        (name = "admin", description = "Operator administration (admin token)"),
        (name = "health", description = "Liveness and readiness"),
        (name = "usage", description = "Usage metering and quota of the caller's tenant"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                utoipa::openapi::security::HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("zk_live_… | zk_test_… | zk_pub_…")
                    .description(Some("A tenant API key; scopes listed per operation."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The reference page (HTML + inline script, no external resources).
pub const DOCS_HTML: &str = include_str!("docs_page.html");

/// `GET /docs`.
pub async fn docs_page() -> Response {
    let mut r = DOCS_HTML.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    r
}
