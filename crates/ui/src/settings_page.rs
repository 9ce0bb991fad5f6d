//! The Settings page: automatic sync (schedule read back in words with its next fire
//! times, debounce, the mass-deprovision guard), the welcome e-mail, notification
//! subscriptions (add, remove, send a test; messages that could not be delivered), and
//! restart sync behind a typed confirmation. Every edit names the version it was based
//! on, so two admins cannot silently overwrite each other.

use crate::forms::{field, version, Fields, Posted};
use crate::pages::{render, Frame, Page};
use crate::session::InTenant;
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use scimgate_app::{AppError, ScheduleReading};
use scimgate_core::SyncSettings;
use scimgate_core::{AdminRole, Channel, EventKind, OutboxEntry, OutboxStatus, Subscription};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    frame: Frame,
    settings: SyncSettings,
    settings_version: i64,
    reading: Option<ScheduleReading>,
    subscriptions: Vec<Subscription>,
    subscriptions_version: i64,
    dead: Vec<OutboxEntry>,
    event_kinds: Vec<&'static str>,
    can_edit: bool,
    welcome_forecast: Forecast,
    problem: Option<String>,
}

/// How many accounts the next run would welcome.
enum Forecast {
    /// Not counted yet: the page asks for it (htmx) or offers a link.
    Ask,
    Counted(u64),
    /// The rules cannot be evaluated (none yet, or broken): why.
    NotCounted(String),
}

impl Forecast {
    async fn count(at: &InTenant) -> Result<Forecast, AppError> {
        match at.signed.app.welcome_forecast(&at.tenant).await {
            Ok(count) => Ok(Forecast::Counted(count)),
            // No rules yet, or rules that no longer compile: nothing to count.
            Err(AppError::NotFound(why)) => Ok(Forecast::NotCounted(why)),
            Err(e @ (AppError::Invalid(_) | AppError::Rules { .. })) => {
                Ok(Forecast::NotCounted(e.to_string()))
            }
            Err(e) => Err(e),
        }
    }
}

/// The welcome e-mail's forecast alone, for htmx to put into the Settings page.
#[derive(Template)]
#[template(path = "welcome_forecast.html")]
struct WelcomeForecast {
    tenant: String,
    settings: SyncSettings,
    welcome_forecast: Forecast,
}

/// What a finished edit says after the redirect (`?done=…`: the state is in the URL).
fn done_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "saved" => "Settings saved.",
        "subscribed" => "Subscription added.",
        "unsubscribed" => "Subscription removed.",
        "test" => "Test message queued; the delivery worker sends it like any other.",
        "restarted" => "Sync restarted: the holding area is empty until the identity provider sends its users again.",
        _ => return None,
    })
}

#[derive(Deserialize)]
pub struct Shown {
    done: Option<String>,
    /// Count the accounts the next run would welcome (the page's link without script).
    forecast: Option<String>,
}

/// What the page shows besides the settings.
#[derive(Default)]
struct Extras {
    done: Option<&'static str>,
    problem: Option<(StatusCode, String)>,
    forecast: bool,
}

impl Extras {
    fn problem(status: StatusCode, error: &AppError) -> Extras {
        let problem = Some((status, error.to_string()));
        Extras {
            problem,
            ..Extras::default()
        }
    }
}

async fn page(at: &InTenant, extras: Extras) -> Response {
    let app = &at.signed.app;
    let loaded = async {
        let settings = app.settings(&at.tenant).await?;
        let subscriptions = app.subscriptions(&at.tenant).await?;
        let dead = app.outbox(&at.tenant, Some(OutboxStatus::Dead), 20).await?;
        Ok::<_, AppError>((settings, subscriptions, dead))
    }
    .await;
    let (settings, subscriptions, dead) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return Page::internal(&e),
    };
    let welcome_forecast = if extras.forecast {
        match Forecast::count(at).await {
            Ok(forecast) => forecast,
            Err(e) => return Page::internal(&e),
        }
    } else {
        Forecast::Ask
    };
    let (status, problem) = match extras.problem {
        Some((status, text)) => (status, Some(text)),
        None => (StatusCode::OK, None),
    };
    let page = SettingsPage {
        frame: Frame::tenant("Settings", at, "settings").with_toast(extras.done.map(str::to_owned)),
        reading: app.read_schedule(&settings.value.schedule).ok(),
        settings: settings.value,
        settings_version: settings.version,
        subscriptions: subscriptions.value,
        subscriptions_version: subscriptions.version,
        dead,
        event_kinds: EventKind::ALL.iter().map(|k| k.name()).collect(),
        can_edit: at.signed.account.role.allows(AdminRole::Administrator),
        welcome_forecast,
        problem,
    };
    render(status, &page)
}

pub async fn show(at: InTenant, Query(shown): Query<Shown>) -> Response {
    let extras = Extras {
        done: shown.done.as_deref().and_then(done_text),
        forecast: shown.forecast.is_some(),
        ..Extras::default()
    };
    page(&at, extras).await
}

/// The welcome forecast alone, for htmx; a browser that comes here gets the page.
pub async fn welcome_forecast(at: InTenant) -> Response {
    if !crate::pages::is_fragment() {
        let to = format!("/t/{}/settings?forecast=1#welcome-forecast", at.tenant.name);
        return Redirect::to(&to).into_response();
    }
    let counted = async {
        let settings = at.signed.app.settings(&at.tenant).await?.value;
        Ok::<_, AppError>((settings, Forecast::count(&at).await?))
    };
    match counted.await {
        Ok((settings, welcome_forecast)) => {
            let fragment = WelcomeForecast {
                tenant: at.tenant.name.to_string(),
                settings,
                welcome_forecast,
            };
            render(StatusCode::OK, &fragment)
        }
        Err(e) => Page::internal(&e),
    }
}

/// After an edit: back to the page with what was done, or the page with the problem.
async fn after(at: &InTenant, result: Result<&'static str, AppError>) -> Response {
    match result {
        Ok(code) => {
            Redirect::to(&format!("/t/{}/settings?done={code}", at.tenant.name)).into_response()
        }
        Err(e @ (AppError::Invalid(_) | AppError::Rules { .. } | AppError::Unstorable(_))) => {
            page(at, Extras::problem(StatusCode::BAD_REQUEST, &e)).await
        }
        Err(e @ (AppError::Stale(_) | AppError::Conflict(_) | AppError::Busy)) => {
            page(at, Extras::problem(StatusCode::CONFLICT, &e)).await
        }
        Err(AppError::NotFound(_)) => Page::not_found(),
        Err(e) => Page::internal(&e),
    }
}

fn number(fields: &Fields, name: &str, label: &str) -> Result<u32, AppError> {
    let text = field(fields, name).unwrap_or_default().trim();
    text.parse()
        .map_err(|_| AppError::Invalid(format!("{label}: {text:?} is not a whole number")))
}

fn settings_from(fields: &Fields) -> Result<SyncSettings, AppError> {
    let sign_in_url = field(fields, "sign_in_url")
        .map(str::trim)
        .filter(|u| !u.is_empty());
    Ok(SyncSettings {
        user_sync_active: field(fields, "user_sync_active").is_some(),
        schedule: field(fields, "schedule")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        debounce_seconds: number(fields, "debounce_seconds", "quiet time")?,
        guard_percent: number(fields, "guard_percent", "guard percentage")?,
        guard_minimum: number(fields, "guard_minimum", "guard minimum")?,
        welcome_email: field(fields, "welcome_email").is_some(),
        sign_in_url: sign_in_url.map(str::to_owned),
    })
}

pub async fn save(Posted { at, fields }: Posted) -> Response {
    let result = async {
        let new = settings_from(&fields)?;
        at.signed.app.save_settings(&at.tenant, version(&fields)?, &new).await?;
        tracing::info!(tenant = %at.tenant.name, account = %at.signed.account.name, "settings saved");
        Ok("saved")
    }
    .await;
    after(&at, result).await
}

pub async fn subscribe(Posted { at, fields }: Posted) -> Response {
    let result = async {
        let channel = Channel::parse_named(field(&fields, "channel").unwrap_or_default())
            .map_err(AppError::Invalid)?;
        let events = (fields.iter().filter(|(k, _)| k == "event"))
            .map(|(_, v)| EventKind::parse_named(v).map_err(AppError::Invalid))
            .collect::<Result<Vec<_>, _>>()?;
        let target = field(&fields, "target").unwrap_or_default();
        (at.signed.app)
            .subscribe(&at.tenant, version(&fields)?, channel, target, &events)
            .await?;
        Ok("subscribed")
    }
    .await;
    after(&at, result).await
}

pub async fn unsubscribe(Path((_, id)): Path<(String, i64)>, posted: Posted) -> Response {
    let Posted { at, fields } = posted;
    let result = async {
        at.signed
            .app
            .unsubscribe(&at.tenant, version(&fields)?, id)
            .await?;
        Ok("unsubscribed")
    }
    .await;
    after(&at, result).await
}

pub async fn test(Path((_, id)): Path<(String, i64)>, Posted { at, .. }: Posted) -> Response {
    let result = at.signed.app.test_subscription(&at.tenant, id).await;
    after(&at, result.map(|_| "test")).await
}

pub async fn restart(Posted { at, fields }: Posted) -> Response {
    let result = async {
        let typed = field(&fields, "confirm").unwrap_or_default().trim();
        if typed != at.tenant.name.as_str() {
            return Err(AppError::Invalid(format!(
                "type the tenant's name, {}, to confirm the restart; nothing was changed",
                at.tenant.name
            )));
        }
        let unlinked = at.signed.app.restart(&at.tenant).await?;
        tracing::info!(tenant = %at.tenant.name, account = %at.signed.account.name, unlinked, "restart sync");
        Ok("restarted")
    }
    .await;
    after(&at, result).await
}
