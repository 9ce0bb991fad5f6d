//! The SCIM schemas scimgate understands (RFC 7643 core User and Group, the enterprise
//! extension). They decide attribute types, case rules and mutability, and they are what
//! `/Schemas` publishes. Attribute names are matched case-insensitively (Entra sends
//! `Primary`, `Department`).

use serde_json::{json, Value};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Complex,
    Binary,
}

impl AttrType {
    fn name(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
            AttrType::Binary => "binary",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    ReadOnly,
    Immutable,
    WriteOnly,
}

#[derive(Debug)]
pub struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi: bool,
    pub case_exact: bool,
    pub required: bool,
    pub mutability: Mutability,
    pub sub: &'static [AttrDef],
    /// What a `reference` attribute points to (RFC 7643 §7): resource types, or
    /// `external` / `uri`. Clients read it to know what a valid value is.
    pub reference_types: &'static [&'static str],
}

const fn attr(name: &'static str, ty: AttrType) -> AttrDef {
    AttrDef {
        name,
        ty,
        multi: false,
        case_exact: false,
        required: false,
        mutability: Mutability::ReadWrite,
        sub: &[],
        reference_types: &[],
    }
}
const fn reference(name: &'static str, to: &'static [&'static str]) -> AttrDef {
    AttrDef {
        reference_types: to,
        ..attr(name, AttrType::Reference)
    }
}
const fn string(name: &'static str) -> AttrDef {
    attr(name, AttrType::String)
}
const fn exact(mut def: AttrDef) -> AttrDef {
    def.case_exact = true;
    def
}
const fn read_only(mut def: AttrDef) -> AttrDef {
    def.mutability = Mutability::ReadOnly;
    def
}
const fn complex(name: &'static str, sub: &'static [AttrDef]) -> AttrDef {
    AttrDef {
        name,
        ty: AttrType::Complex,
        multi: false,
        case_exact: false,
        required: false,
        mutability: Mutability::ReadWrite,
        sub,
        reference_types: &[],
    }
}
const fn multi(mut def: AttrDef) -> AttrDef {
    def.multi = true;
    def
}

const MULTI_VALUE_SUBS: &[AttrDef] = &[
    string("value"),
    string("display"),
    string("type"),
    attr("primary", AttrType::Boolean),
];
/// A group's members (RFC 7643 §4.2): users and groups of the same tenant.
const MEMBER_SUBS: &[AttrDef] = &[
    exact(string("value")),
    exact(reference("$ref", &["User", "Group"])),
    string("display"),
    string("type"),
];
/// A user's groups (RFC 7643 §4.1.2), computed by the server.
const GROUP_REFERENCE_SUBS: &[AttrDef] = &[
    exact(string("value")),
    exact(reference("$ref", &["Group"])),
    string("display"),
    string("type"),
];
const ADDRESS_SUBS: &[AttrDef] = &[
    string("formatted"),
    string("streetAddress"),
    string("locality"),
    string("region"),
    string("postalCode"),
    string("country"),
    string("type"),
    attr("primary", AttrType::Boolean),
];
const NAME_SUBS: &[AttrDef] = &[
    string("formatted"),
    string("familyName"),
    string("givenName"),
    string("middleName"),
    string("honorificPrefix"),
    string("honorificSuffix"),
];
const MANAGER_SUBS: &[AttrDef] = &[
    exact(string("value")),
    exact(reference("$ref", &["User"])),
    read_only(string("displayName")),
];

/// Attributes common to every resource (RFC 7643 §3.1).
pub const COMMON: &[AttrDef] = &[
    AttrDef {
        mutability: Mutability::ReadOnly,
        ..exact(string("id"))
    },
    exact(string("externalId")),
    read_only(complex(
        "meta",
        &[
            string("resourceType"),
            attr("created", AttrType::DateTime),
            attr("lastModified", AttrType::DateTime),
            exact(reference("location", &["uri"])),
            exact(string("version")),
        ],
    )),
];

pub const USER: &[AttrDef] = &[
    AttrDef {
        required: true,
        ..string("userName")
    },
    complex("name", NAME_SUBS),
    string("displayName"),
    string("nickName"),
    reference("profileUrl", &["external"]),
    string("title"),
    string("userType"),
    string("preferredLanguage"),
    string("locale"),
    string("timezone"),
    attr("active", AttrType::Boolean),
    AttrDef {
        mutability: Mutability::WriteOnly,
        ..exact(string("password"))
    },
    multi(complex("emails", MULTI_VALUE_SUBS)),
    multi(complex("phoneNumbers", MULTI_VALUE_SUBS)),
    multi(complex("ims", MULTI_VALUE_SUBS)),
    multi(complex("photos", MULTI_VALUE_SUBS)),
    multi(complex("addresses", ADDRESS_SUBS)),
    read_only(multi(complex("groups", GROUP_REFERENCE_SUBS))),
    multi(complex("entitlements", MULTI_VALUE_SUBS)),
    multi(complex("roles", MULTI_VALUE_SUBS)),
    multi(complex("x509Certificates", MULTI_VALUE_SUBS)),
];

pub const ENTERPRISE_USER: &[AttrDef] = &[
    string("employeeNumber"),
    string("costCenter"),
    string("organization"),
    string("division"),
    string("department"),
    complex("manager", MANAGER_SUBS),
];

pub const GROUP: &[AttrDef] = &[
    AttrDef {
        required: true,
        ..string("displayName")
    },
    multi(complex("members", MEMBER_SUBS)),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    User,
    Group,
}

impl ResourceType {
    pub fn name(self) -> &'static str {
        match self {
            ResourceType::User => "User",
            ResourceType::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceType::User => "Users",
            ResourceType::Group => "Groups",
        }
    }

    pub fn core_schema(self) -> &'static str {
        match self {
            ResourceType::User => USER_SCHEMA,
            ResourceType::Group => GROUP_SCHEMA,
        }
    }

    pub fn core_attrs(self) -> &'static [AttrDef] {
        match self {
            ResourceType::User => USER,
            ResourceType::Group => GROUP,
        }
    }

    /// Extension schemas this resource type knows the attributes of.
    pub fn known_extension(self, urn: &str) -> Option<(&'static str, &'static [AttrDef])> {
        match self {
            ResourceType::User if urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) => {
                Some((ENTERPRISE_USER_SCHEMA, ENTERPRISE_USER))
            }
            _ => None,
        }
    }

    /// The known extension that defines an attribute of this name, for attributes
    /// addressed without their URN (Entra's legacy `manager`).
    pub fn extension_owning(self, name: &str) -> Option<&'static str> {
        match self {
            ResourceType::User => find(ENTERPRISE_USER, name).map(|_| ENTERPRISE_USER_SCHEMA),
            ResourceType::Group => None,
        }
    }

    /// The definition of a top-level attribute in the core schema (or common attributes).
    pub fn core_attr(self, name: &str) -> Option<&'static AttrDef> {
        find(self.core_attrs(), name).or_else(|| find(COMMON, name))
    }
}

pub fn find<'a>(defs: &'a [AttrDef], name: &str) -> Option<&'a AttrDef> {
    defs.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// Case-insensitive key lookup in a JSON object, returning the key as stored.
pub fn key_ci<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name))
}

pub fn get_ci<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    key_ci(obj, name).and_then(|k| obj.get(k))
}

/// Removes sub-attribute `sub` (any case) from a complex value or from every element of
/// a multi-valued one.
pub fn remove_sub_ci(value: &mut Value, sub: &str) {
    let remove = |o: &mut serde_json::Map<String, Value>| {
        if let Some(k) = key_ci(o, sub).cloned() {
            o.remove(&k);
        }
    };
    match value {
        Value::Object(o) => remove(o),
        Value::Array(items) => items
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(remove),
        _ => {}
    }
}

fn attr_json(def: &AttrDef) -> Value {
    let mut v = json!({
        "name": def.name,
        "type": def.ty.name(),
        "multiValued": def.multi,
        "description": "",
        "required": def.required,
        "caseExact": def.case_exact,
        "mutability": match def.mutability {
            Mutability::ReadWrite => "readWrite",
            Mutability::ReadOnly => "readOnly",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        },
        "returned": if def.mutability == Mutability::WriteOnly { "never" } else if def.name == "id" { "always" } else { "default" },
        "uniqueness": match def.name { "userName" => "server", "id" => "global", _ => "none" },
    });
    if !def.sub.is_empty() {
        v["subAttributes"] = Value::Array(def.sub.iter().map(attr_json).collect());
    }
    if def.ty == AttrType::Reference {
        v["referenceTypes"] = json!(def.reference_types);
    }
    v
}

pub fn schema_json(
    id: &str,
    name: &str,
    description: &str,
    attrs: &[AttrDef],
    base: &str,
) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") },
    })
}

pub fn all_schemas(base: &str) -> Vec<Value> {
    vec![
        schema_json(USER_SCHEMA, "User", "User Account", USER, base),
        schema_json(GROUP_SCHEMA, "Group", "Group", GROUP, base),
        schema_json(
            ENTERPRISE_USER_SCHEMA,
            "EnterpriseUser",
            "Enterprise User",
            ENTERPRISE_USER,
            base,
        ),
    ]
}
