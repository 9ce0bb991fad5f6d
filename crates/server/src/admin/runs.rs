//! Run history, and the admin's decision on a run the mass-deprovision guard held.

use super::call::Call;
use super::error::Result;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::StreamExt;
use scimgate_scheduler::Outcome;
use serde_json::{json, Value};

const DEFAULT_RUNS: u64 = 20;
const MAX_RUNS: u64 = 1000;

pub async fn list(call: Call) -> Result<Json<Value>> {
    let limit = call
        .params
        .only(&["limit"])?
        .number("limit", DEFAULT_RUNS, MAX_RUNS)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let list = call.app.runs(&call.tenant, limit).await?;
    Ok(Json(json!({"runs": list})))
}

/// The run named in the path (`{id}`); no query parameters.
fn run_id(call: &Call) -> Result<i64> {
    call.no_params()?;
    call.path.number("id", "run")
}

pub async fn get(call: Call) -> Result<Json<Value>> {
    let (run, users) = call.app.run(&call.tenant, run_id(&call)?).await?;
    Ok(Json(json!({"run": run, "users": users})))
}

/// The run as server-sent events: `status` (the run, as `GET …/runs/{id}` gives it,
/// without its users) each time it changes, looked at every second, and last `end` with
/// the run as it ended; then the stream closes. A run that is no more is an `error`.
pub async fn events(
    call: Call,
) -> Result<(
    [(&'static str, &'static str); 1],
    Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>>,
)> {
    let id = run_id(&call)?;
    // An unknown run is a 404 before any event.
    call.app.run_status(&call.tenant, id).await?;
    let updates = call
        .app
        .watch_run(&call.tenant, id, (EVENT_EVERY, EVENT_STREAM_LASTS));
    let events = updates.map(move |update| {
        let event = match update {
            Ok(run) => {
                let name = match run.status {
                    scimgate_core::RunStatus::Running => "status",
                    _ => "end",
                };
                Event::default()
                    .event(name)
                    .json_data(&run)
                    .unwrap_or_else(|_| unreadable())
            }
            Err(e) => {
                tracing::warn!(run = id, error = %e, "a run's events stopped");
                unreadable()
            }
        };
        Ok(event)
    });
    // Proxies that buffer (nginx) would hold the events back.
    Ok((
        [("x-accel-buffering", "no")],
        Sse::new(events).keep_alive(KeepAlive::default()),
    ))
}

/// How often a run's events look at it, and how long one stream lasts before the
/// follower connects again (server-sent events reconnect by themselves).
const EVENT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
const EVENT_STREAM_LASTS: std::time::Duration = std::time::Duration::from_secs(60);

/// The `error` event: the cause goes to the log, not to the client.
fn unreadable() -> Event {
    Event::default()
        .event("error")
        .data("the run could not be read; see the server's log")
}

/// Asks a running run to stop at its next safe point: 202; the run ends `cancelled`.
pub async fn cancel(call: Call) -> Result<(StatusCode, Json<Value>)> {
    let id = run_id(&call)?;
    call.app.cancel_run(&call.tenant, id).await?;
    let body = json!({"run_id": id, "cancel_requested": true});
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// Applies the deprovisions a held run held back (those still due).
pub async fn approve(call: Call) -> Result<Json<Outcome>> {
    Ok(Json(
        call.app.approve_run(&call.tenant, run_id(&call)?).await?,
    ))
}

/// Discards a held run's deprovisions.
pub async fn reject(call: Call) -> Result<StatusCode> {
    call.app.reject_run(&call.tenant, run_id(&call)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
