//! The HTTP surface of the embedded server: routes, and the translation of a
//! [`Reply`] into an actix response. Decisions live in `config.rs`, the body
//! in `stream.rs`; these handlers only glue them to actix-web.
//!
//! | route | answer |
//! |---|---|
//! | `POST /trigger_invocation` | the seed's SSE stream, or an injected status |
//! | `POST /v1/chat/completions`, `POST /v1/completions` (and the scenario's path) | with `dialect = "openai"`: OpenAI's stream ([`super::openai`]) |
//! | `GET /stats` | [`StatsSnapshot`](super::StatsSnapshot) as JSON |
//! | `POST /stats/reset` | zeroes the counters, answers the zeroed snapshot |
//! | `GET`/`POST /events` (and the scenario's path) | broadcast mode: a subscription (`broadcast.rs`) |
//!
//! Any other path is actix's 404; a wrong method on a known path is 405.

use std::sync::Arc;

use actix_web::{
    http::{
        header::{self, HeaderValue},
        StatusCode,
    },
    web, HttpResponse,
};
use bytes::Bytes;

use super::{
    broadcast::{self, Hub},
    config::{plan_request, Reply, ServerConfig, ServerMode},
    openai::{ServerDialect, Shape},
    stats::Stats,
    stream::EventStream,
};

/// State shared by every worker (one `Arc`, no lock: the config is read-only
/// and the counters are atomics).
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) stats: Arc<Stats>,
    /// `"xxx…"` of `config.payload_bytes`, shared by every stream that keeps the default.
    pub(crate) pad: Bytes,
    /// Broadcast mode: the publisher's ring (kept across restarts).
    pub(crate) hub: Option<Arc<Hub>>,
}

impl Shared {
    pub(crate) fn new(config: ServerConfig, stats: Arc<Stats>) -> Self {
        let pad = pad(config.payload_bytes.min(super::config::MAX_PAYLOAD_BYTES));
        let hub = match &config.mode {
            ServerMode::Stream => None,
            ServerMode::Broadcast(b) => Some(Hub::new(b.clone())),
        };
        Shared {
            config,
            stats,
            pad,
            hub,
        }
    }
}

/// Registers the routes on an actix-web `App` for `config`'s dialect.
pub(crate) fn routes(cfg: &mut web::ServiceConfig, config: &ServerConfig) {
    if config.dialect == ServerDialect::OpenAi {
        let mut paths = vec!["/v1/chat/completions", "/v1/completions"];
        if let Some(path) = config.path.as_deref() {
            // Without its query: actix matches the path alone.
            let path = path.split('?').next().unwrap_or(path);
            if !paths.contains(&path) && path != "/stats" && path != "/stats/reset" {
                paths.push(path);
            }
        }
        for path in paths {
            let shape = Shape::for_path(path);
            cfg.service(web::resource(path).route(web::post().to(
                move |shared: web::Data<Shared>, body: Bytes| answer(shared, body, Some(shape)),
            )));
        }
    }
    let broadcast_path = match &config.mode {
        ServerMode::Broadcast(b) => b.path.as_deref(),
        ServerMode::Stream => None,
    };
    if let Some(path) = broadcast_path.filter(|p| *p != "/events") {
        cfg.service(
            web::resource(path.to_owned())
                .route(web::get().to(events))
                .route(web::post().to(events)),
        );
    }
    cfg.service(web::resource("/trigger_invocation").route(web::post().to(trigger_invocation)))
        .service(
            web::resource("/events")
                .route(web::get().to(events))
                .route(web::post().to(events)),
        )
        .service(web::resource("/stats").route(web::get().to(stats)))
        .service(web::resource("/stats/reset").route(web::post().to(reset_stats)));
}

/// `GET /events` (broadcast mode; 404 otherwise): a subscription, replayed
/// from `Last-Event-ID` as far as the replay buffer reaches.
async fn events(shared: web::Data<Shared>, request: actix_web::HttpRequest) -> HttpResponse {
    let Some(hub) = &shared.hub else {
        return HttpResponse::NotFound()
            .body("no broadcast here: start the server with mode = \"broadcast\"");
    };
    shared.stats.request();
    let last = request
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok());
    let body = broadcast::subscriber(Arc::clone(hub), Arc::clone(&shared.stats), last);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(body)
}

/// `POST /trigger_invocation`: any content type; the body's knobs are parsed
/// leniently (see `config::plan_request`).
async fn trigger_invocation(shared: web::Data<Shared>, body: Bytes) -> HttpResponse {
    answer(shared, body, None).await
}

/// A stream of the seed's shape (`shape = None`) or of an OpenAI endpoint's.
async fn answer(shared: web::Data<Shared>, body: Bytes, shape: Option<Shape>) -> HttpResponse {
    let request_no = shared.stats.request();
    match plan_request(&shared.config, &body, request_no, shape) {
        Reply::Status {
            status,
            retry_after,
        } => {
            shared.stats.rejected();
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = HttpResponse::build(status);
            if let Some(seconds) = retry_after {
                response.insert_header((header::RETRY_AFTER, seconds));
            }
            response.content_type("application/json").body(format!(
                "{{\"error\": \"injected status {}\"}}",
                status.as_u16()
            ))
        }
        Reply::Stream(plan) => {
            let content_type = match plan.content_type.as_deref() {
                None => HeaderValue::from_static("text/event-stream"),
                Some(wrong) => HeaderValue::from_str(wrong)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            };
            let pad = if plan.payload_bytes == shared.pad.len() {
                shared.pad.clone()
            } else {
                pad(plan.payload_bytes)
            };
            let body = EventStream::new(plan, pad, Arc::clone(&shared.stats));
            HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, content_type))
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .streaming(body)
        }
    }
}

/// `GET /stats`.
async fn stats(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(shared.stats.snapshot())
}

/// `POST /stats/reset`.
async fn reset_stats(shared: web::Data<Shared>) -> HttpResponse {
    shared.stats.reset();
    HttpResponse::Ok().json(shared.stats.snapshot())
}

fn pad(len: usize) -> Bytes {
    Bytes::from(vec![b'x'; len])
}
