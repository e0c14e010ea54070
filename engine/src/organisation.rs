//! Kinds of organisation (`organisations.kind`), written once here. Security and licensing
//! offices are `authority`; the team that runs Corridor is `operator`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrganisationKind {
    Firm,
    Ministry,
    Embassy,
    Authority,
    Operator,
}

impl OrganisationKind {
    /// In the order forms offer them.
    pub const ALL: [OrganisationKind; 5] = [
        OrganisationKind::Firm,
        OrganisationKind::Ministry,
        OrganisationKind::Embassy,
        OrganisationKind::Authority,
        OrganisationKind::Operator,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            OrganisationKind::Firm => "firm",
            OrganisationKind::Ministry => "ministry",
            OrganisationKind::Embassy => "embassy",
            OrganisationKind::Authority => "authority",
            OrganisationKind::Operator => "operator",
        }
    }
}

/// Not one of [`OrganisationKind::ALL`]; carries what was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a kind of organisation: use firm, ministry, embassy, authority or operator")]
pub struct UnknownOrganisationKind(pub String);

impl FromStr for OrganisationKind {
    type Err = UnknownOrganisationKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.code() == s).ok_or_else(|| UnknownOrganisationKind(s.to_string()))
    }
}

impl fmt::Display for OrganisationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for OrganisationKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for OrganisationKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}
