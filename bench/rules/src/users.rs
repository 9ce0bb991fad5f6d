//! Synthetic staged users, shaped as Entra provisions them and as the store keeps them
//! (core + enterprise extension, canonical attribute names, `active` as a boolean), with
//! the groups they belong to. Deterministic: the same seed gives the same users.

use scimgate_rules::{GroupRef, UserInput};
use serde_json::json;

/// xorshift64*: small, fast and good enough to spread users over the cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// The Entra objectId of "IT admins"; rules/bench.yaml scopes a rule by it.
const IT_ADMINS_ID: &str = "0b6f2d1e-8c4a-4e3b-a7d2-5f9e1c3b7a40";

/// A fake but stable objectId for a group name.
fn object_id(name: &str) -> String {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 20) & 0xfff,
        h.rotate_left(17) & 0xffff_ffff_ffff
    )
}

fn group(name: &str) -> GroupRef {
    GroupRef {
        display_name: name.to_owned(),
        external_id: Some(if name == "IT admins" {
            IT_ADMINS_ID.to_owned()
        } else {
            object_id(name)
        }),
    }
}

/// (department as Entra sends it, the team group that usually goes with it)
const DEPARTMENTS: &[(Option<&str>, Option<&str>)] = &[
    (Some("Sales"), Some("Sales")),
    (Some("Sales"), Some("Sales")),
    (Some("sales"), Some("Sales")),
    (Some("Customer Support"), Some("Service")),
    (Some("Customer support"), Some("Service")),
    (Some("Marketing"), Some("Marketing")),
    (Some("Finance"), Some("Finance")),
    (Some("Human Resources"), Some("HR")),
    (Some("IT"), None),
    (Some("Engineering"), None),
    (Some("Legal"), None),
    (None, None),
];

const TITLES: &[Option<&str>] = &[
    None,
    Some("Account Executive"),
    Some("Sales Manager"),
    Some("Support Engineer"),
    Some("Director of Marketing"),
    Some("Chief Financial Officer"),
    Some("Controller"),
    Some("HR Partner"),
    Some("Software Engineer"),
    Some("VP Sales"),
    Some("Office Manager"),
    Some("Consultant"),
];

/// (office group, e-mail domain)
const OFFICES: &[(Option<&str>, &str)] = &[
    (Some("Office Oslo"), "acme.no"),
    (Some("Office Oslo"), "acme.no"),
    (Some("Office Stockholm"), "acme.se"),
    (Some("Office Munich"), "acme.de"),
    (Some("Office London"), "acme.com"),
    (Some("Office New York"), "acme.com"),
    // Remote workers: no office group, but a country domain.
    (None, "acme.se"),
    (None, "acme.de"),
    (None, "acme.com"),
];

const GIVEN: &[&str] = &[
    "Kari", "Ola", "Ingrid", "Lars", "Sofia", "Erik", "Anna", "Jonas", "Mia", "Ali", "Fatima",
    "Jan", "Eva", "Nils", "Hanna", "Tom",
];
const FAMILY: &[&str] = &[
    "Nordmann", "Hansen", "Berg", "Lund", "Weber", "Svensson", "Khan", "Dahl", "Moe", "Schmidt",
    "Lie", "Ek", "Vik", "Sand",
];
const COST_CENTRES: &[&str] = &[
    "1200", "1210", "4100", "4120", "4150", "9000", "9010", "7300",
];
const NOISE_GROUPS: &[&str] = &["VPN users", "M365 licensed", "Project Phoenix", "Book club"];

fn country(domain: &str) -> &'static str {
    match domain {
        "acme.no" => "NO",
        "acme.se" => "SE",
        "acme.de" => "DE",
        "acme.com" => "GB",
        _ => "US",
    }
}

pub fn generate(count: usize, seed: u64) -> Vec<UserInput> {
    let mut rng = Rng(seed | 1);
    (0..count).map(|i| user(i, &mut rng)).collect()
}

fn user(i: usize, rng: &mut Rng) -> UserInput {
    let given = *rng.pick(GIVEN);
    let family = *rng.pick(FAMILY);
    let contractor = rng.chance(7);
    let (office, country_domain) = *rng.pick(OFFICES);
    let domain = if contractor {
        "partner.example"
    } else {
        country_domain
    };
    let user_name = format!(
        "{}.{}{i}@{domain}",
        given.to_lowercase(),
        family.to_lowercase()
    );
    let (department, team) = *rng.pick(DEPARTMENTS);
    let title = *rng.pick(TITLES);

    let mut groups = Vec::with_capacity(8);
    if !contractor {
        groups.push(group("All employees"));
    } else {
        groups.push(group("Contractors"));
    }
    // Mostly the team that goes with the department; sometimes a stale or missing one.
    if let Some(team) = team {
        if rng.chance(90) {
            groups.push(group(team));
        }
    }
    if rng.chance(5) {
        const TEAMS: &[&str] = &["Sales", "Service", "Marketing", "Finance", "HR"];
        let stale = *rng.pick(TEAMS);
        groups.push(group(stale));
    }
    if team == Some("Sales") {
        if rng.chance(15) {
            groups.push(group("Key account team"));
        }
        if rng.chance(12) {
            groups.push(group("Sales managers"));
        }
    }
    if rng.chance(3) {
        groups.push(group("Management"));
    }
    if department == Some("IT") && rng.chance(30) {
        groups.push(group("IT admins"));
    }
    if let Some(office) = office {
        groups.push(group(office));
    }
    for noise in NOISE_GROUPS {
        if rng.chance(25) {
            groups.push(group(noise));
        }
    }

    let mut enterprise = json!({
        "employeeNumber": format!("{}", 10_000 + i),
        "manager": { "value": object_id(&format!("manager-{}", i / 8)) },
    });
    if let Some(department) = department {
        enterprise["department"] = json!(department);
    }
    if rng.chance(40) {
        enterprise["organization"] = json!("Acme");
    }
    let work = json!({ "primary": true, "type": "work", "value": user_name });
    let emails = match rng.next() % 10 {
        // No e-mail at all: `user.primary_email` is `()`.
        0 => None,
        // The primary one second in the list.
        1 => Some(json!([
            { "type": "other", "value": format!("{given}{i}@private.example") },
            work
        ])),
        _ => Some(json!([work])),
    };
    let mut user = json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": object_id(&user_name),
        "userName": user_name,
        "active": !rng.chance(3),
        "displayName": format!("{given} {family}"),
        "name": { "givenName": given, "familyName": family, "formatted": format!("{given} {family}") },
        "preferredLanguage": "en-GB",
        "phoneNumbers": [{ "type": "work", "value": format!("+47 2{:07}", i) }],
        "addresses": [{ "type": "work", "country": country(domain) }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": enterprise,
    });
    if let Some(emails) = emails {
        user["emails"] = emails;
    }
    if let Some(title) = title {
        user["title"] = json!(title);
    }
    if rng.chance(60) {
        // A custom extension attribute, flattened as Entra sends it.
        user["urn:ietf:params:scim:schemas:extension:Acme:2.0:User:costCenter"] =
            json!(rng.pick(COST_CENTRES));
    }
    match rng.next() % 20 {
        // An app role assignment as Entra sends it (AppRoleAssignmentsComplex).
        0 | 1 => {
            user["roles"] = json!([{
                "primary": false,
                "type": "WindowsAzureActiveDirectoryRole",
                "value": "{\"id\":\"5a1f0c1e-7d3b-4c9a-8e2f-1b6d4a9c3e70\",\"value\":\"CRM.Admin\",\"displayName\":\"CRM administrator\"}"
            }])
        }
        2 => user["roles"] = json!([{ "primary": true, "value": "CRM.Admin" }]),
        3..=6 => user["roles"] = json!([{ "primary": true, "value": "CRM.User" }]),
        _ => {}
    }
    UserInput { user, groups }
}
