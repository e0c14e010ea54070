//! Ids as types: an application id cannot be passed where a user id is expected. Each wraps
//! the row id the database gave; the store binds [`get`](ApplicationId::get) and wraps what it
//! reads. In JSON they are plain numbers, in paths and forms plain decimal text.

/// An id newtype over the database's `i64` row id, with what every id needs: copy, order,
/// hashing, `Display` and `FromStr` as the decimal number, and transparent serde.
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            pub const fn new(id: i64) -> Self {
                Self(id)
            }

            /// The row id, to bind in a query.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }
    };
}

id_type!(
    /// An application (a case), the `applications` row id.
    ApplicationId
);
id_type!(
    /// A user account (firm staff, reviewers, administrators).
    UserId
);
id_type!(
    /// A firm, ministry, embassy or other organisation.
    OrganisationId
);
id_type!(
    /// An API token (the `api_tokens` row id; never the secret).
    TokenId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_are_the_plain_number() {
        let id: UserId = "42".parse().unwrap();
        assert_eq!(id, UserId::new(42));
        assert_eq!(id.to_string(), "42");
        assert_eq!(serde_json::to_string(&id).unwrap(), "42");
        assert_eq!(serde_json::from_str::<UserId>("42").unwrap(), id);
        assert!("4x".parse::<ApplicationId>().is_err());
    }
}
