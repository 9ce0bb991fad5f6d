//! `scimgate demo` and `serve --demo`: a tenant called `demo` with the example catalogue
//! (`rules/catalog.yaml`), the example rule set (`rules/bench.yaml`, twenty rules with
//! Rhai) and a few hundred users and groups shaped as Entra ID provisions them, so the web
//! UI can be explored before any identity provider is connected. The users go through the
//! same SCIM indexing and store writes as a real POST.

use crate::config::ServeConfig;
use anyhow::Context;
use scimgate_app::{App, Expect};
use scimgate_core::{Catalog, Clock, RuleSource, SystemClock, TenantName};
use scimgate_scim::schema::ResourceType;
use scimgate_store::{Member, ResourceKind, Store, Write};
use serde_json::{json, Value};
use std::sync::Arc;

pub const TENANT: &str = "demo";
pub const DEFAULT_USERS: usize = 300;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// What the demo filled in, for the message to the person who asked.
pub struct Filled {
    pub users: usize,
    pub groups: usize,
}

/// Fills the `demo` tenant; `None` when it already exists (nothing is changed then).
pub async fn fill(store: &Store, users: usize) -> anyhow::Result<Option<Filled>> {
    let name = TenantName::parse(TENANT)?;
    if store.tenant(&name).await?.is_some() {
        return Ok(None);
    }
    let tenant = store.create_tenant(&name, SystemClock.now()).await?;
    let app = App::builtin(
        store.clone(),
        Arc::new(SystemClock),
        scimgate_notify::target::TargetPolicy::default(),
    );
    load_examples(&app, &tenant).await?;

    let mut people = People(0x5eed_cafe_f00d_d00d);
    let mut members: Vec<(&str, Vec<String>)> = GROUPS.iter().map(|g| (*g, vec![])).collect();
    for n in 0..users {
        let (body, groups) = people.person(n);
        let id = create(store, &tenant, ResourceType::User, body, vec![]).await?;
        for group in groups {
            if let Some((_, ids)) = members.iter_mut().find(|(name, _)| *name == group) {
                ids.push(id.clone());
            }
        }
    }
    for (name, ids) in &members {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "externalId": group_object_id(name),
        });
        create(store, &tenant, ResourceType::Group, body, ids.clone()).await?;
    }
    Ok(Some(Filled {
        users,
        groups: GROUPS.len(),
    }))
}

/// The example catalogue (`rules/catalog.yaml`) and rule set (`rules/bench.yaml` with its
/// Rhai script) into `tenant`, replacing what it had (the demo, and bench/ui).
pub async fn load_examples(app: &App, tenant: &scimgate_core::Tenant) -> anyhow::Result<()> {
    let catalog = Catalog::from_yaml(include_str!("../../../rules/catalog.yaml"))
        .map_err(|e| anyhow::anyhow!("the example catalogue: {e}"))?;
    app.replace_catalog(tenant, Expect::Any, catalog).await?;
    let rules = RuleSource {
        yaml: include_str!("../../../rules/bench.yaml").to_owned(),
        scripts: [(
            "bench-cost-centre.rhai".to_owned(),
            include_str!("../../../rules/bench-cost-centre.rhai").to_owned(),
        )]
        .into(),
    };
    app.save_rules(tenant, Expect::Any, rules).await?;
    Ok(())
}

/// One resource through the SCIM layer's indexing and the store's write path.
async fn create(
    store: &Store,
    tenant: &scimgate_core::Tenant,
    rt: ResourceType,
    body: Value,
    members: Vec<String>,
) -> anyhow::Result<String> {
    let doc = scimgate_scim::resource::index(rt, body)
        .map_err(|e| anyhow::anyhow!("a demo resource was refused: {e:?}"))?;
    let kind = match rt {
        ResourceType::User => ResourceKind::User,
        ResourceType::Group => ResourceKind::Group,
    };
    let members = (members.into_iter())
        .map(|value| Member {
            value,
            member_type: Some("User".to_owned()),
            display: None,
        })
        .collect();
    let write = Write::Create { kind, doc, members };
    let written = store.write(tenant, SystemClock.now(), write).await?;
    let resource = written.resource.context("the store wrote no resource")?;
    Ok(resource.id)
}

/// `scimgate demo`: fills the tenant and says so; `then` is what to do next.
pub async fn run(store: &Store, users: usize, then: &str) -> anyhow::Result<()> {
    match fill(store, users).await? {
        Some(filled) => eprintln!(
            "tenant {TENANT} filled: {} users and {} groups staged as Entra sends them, the example catalogue and rules (rules/catalog.yaml, rules/bench.yaml).{then}",
            filled.users, filled.groups
        ),
        None => eprintln!("tenant {TENANT} exists already; nothing was changed"),
    }
    Ok(())
}

/// `serve --demo`: the demo tenant first (when absent), then the server.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let store = Store::open(&config.database_url).await?;
    run(&store, DEFAULT_USERS, "").await?;
    store.close().await;
    crate::serve(config).await
}

/// The demo's Entra groups; rules/bench.yaml scopes rules by these names (and "IT
/// admins" by its objectId).
const GROUPS: &[&str] = &[
    "Sales",
    "Key account team",
    "Sales managers",
    "Service",
    "Marketing",
    "Finance",
    "HR",
    "Management",
    "IT admins",
    "Office Oslo",
    "Office Stockholm",
    "Office Munich",
    "Contractors",
];

fn group_object_id(name: &str) -> String {
    // The objectId rules/bench.yaml's "IT administrators" rule names.
    if name == "IT admins" {
        return "0b6f2d1e-8c4a-4e3b-a7d2-5f9e1c3b7a40".to_owned();
    }
    let seed = name.bytes().fold(0x9e37_79b9_7f4a_7c15_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    People(seed | 1).object_id()
}

const GIVEN: &[&str] = &[
    "Ingrid", "Lars", "Sofia", "Jonas", "Maja", "Erik", "Anna", "Lukas", "Nora", "Felix", "Emma",
    "Olav", "Leonie", "Mats", "Hanna", "Tobias", "Sara", "Jakob", "Elin", "Paul",
];
const FAMILY: &[&str] = &[
    "Hansen",
    "Johansson",
    "Müller",
    "Berg",
    "Schmidt",
    "Larsen",
    "Nilsson",
    "Weber",
    "Dahl",
    "Lindqvist",
    "Fischer",
    "Bakke",
    "Karlsson",
    "Wagner",
    "Strand",
    "Holm",
];
/// (office group, e-mail domain, city, country)
const OFFICES: &[(&str, &str, &str, &str)] = &[
    ("Office Oslo", "acme.no", "Oslo", "NO"),
    ("Office Stockholm", "acme.se", "Stockholm", "SE"),
    ("Office Munich", "acme.de", "München", "DE"),
];
/// (department as Entra sends it, its team group, a job title)
const TEAMS: &[(&str, Option<&str>, &str)] = &[
    ("Sales", Some("Sales"), "Account Executive"),
    ("Sales", Some("Sales"), "Sales Representative"),
    ("Customer Support", Some("Service"), "Support Engineer"),
    ("Marketing", Some("Marketing"), "Marketing Specialist"),
    ("Finance", Some("Finance"), "Controller"),
    ("Human Resources", Some("HR"), "HR Partner"),
    ("IT", None, "Systems Engineer"),
    ("Engineering", None, "Software Engineer"),
];

/// A deterministic source of people (xorshift), so every demo looks the same.
struct People(u64);

impl People {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// A random-looking GUID, as Entra's objectIds are.
    fn object_id(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            8 + (b >> 62),
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }

    /// The `n`th user as Entra's provisioning service sends it, and its groups.
    fn person(&mut self, n: usize) -> (Value, Vec<&'static str>) {
        let given = *self.pick(GIVEN);
        let family = *self.pick(FAMILY);
        let (office, domain, city, country) = *self.pick(OFFICES);
        let (department, team, title) = *self.pick(TEAMS);
        let ascii = |s: &str| s.to_lowercase().replace('ü', "u");
        let user_name = format!("{}.{}{n}@{domain}", ascii(given), ascii(family));
        let mut groups = vec![office];
        groups.extend(team);
        let mut title = title.to_owned();
        if team == Some("Sales") && self.chance(25) {
            groups.push("Key account team");
        }
        if team == Some("Sales") && self.chance(10) {
            groups.push("Sales managers");
            title = "Sales Manager".to_owned();
        }
        if self.chance(4) {
            groups.push("Management");
            title = format!("Director of {department}");
        }
        if department == "IT" && self.chance(40) {
            groups.push("IT admins");
        }
        if self.chance(5) {
            groups.push("Contractors");
        }
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "externalId": self.object_id(),
            "userName": user_name,
            // Entra sends active as a boolean (or the string "False" with the feature flag).
            "active": !self.chance(3),
            "displayName": format!("{given} {family}"),
            "title": title,
            "name": {"givenName": given, "familyName": family, "formatted": format!("{given} {family}")},
            "emails": [{"type": "work", "primary": true, "value": user_name}],
            "addresses": [{"type": "work", "locality": city, "country": country, "primary": true}],
            "preferredLanguage": match country { "NO" => "nb-NO", "SE" => "sv-SE", _ => "de-DE" },
            ENTERPRISE: {
                "department": department,
                "employeeNumber": format!("{}", 10_000 + n),
            },
        });
        (user, groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_entra_shaped_and_the_same_every_time() {
        let (first, groups) = People(0x5eed_cafe_f00d_d00d).person(0);
        let (again, _) = People(0x5eed_cafe_f00d_d00d).person(0);
        assert_eq!(first, again);
        let external_id = first["externalId"].as_str().unwrap_or_default();
        assert_eq!(external_id.len(), 36);
        assert_eq!(external_id.matches('-').count(), 4);
        assert!(groups.iter().any(|g| g.starts_with("Office ")));
        assert!(scimgate_scim::resource::index(ResourceType::User, first).is_ok());
    }
}
