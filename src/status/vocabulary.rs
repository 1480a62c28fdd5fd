//! The vocabulary of instance statuses: the ones the vendor documents, interned as a byte, and any other string
//! the API sends, kept exactly. Decoding reads a status straight from the JSON text, with no allocation for the
//! known ones, since a million-instance poll decodes a million of them.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

/// Every status the vendor documents for VM instances, in the order they are exported.
pub const KNOWN_STATUSES: [&str; 13] = [
    "BOOTING",
    "CREATE_FAILED",
    "DEPLOYING",
    "IMAGING",
    "PENDING",
    "REBOOT",
    "REBUILDING",
    "RECYCLE",
    "RECYCLING",
    "RELEASING",
    "RUNNING",
    "STOPPED",
    "STOPPING",
];

/// The index of `RUNNING` in [`KNOWN_STATUSES`].
const RUNNING: u8 = 10;

/// An instance's status: one of [`KNOWN_STATUSES`] (stored as its index), or any other string the API sends,
/// kept exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Known(u8),
    Other(Box<str>),
}

impl Status {
    /// Reads the API's string; never fails, since the API types the field as a free string.
    pub fn parse(text: &str) -> Status {
        let known = match text {
            "BOOTING" => 0,
            "CREATE_FAILED" => 1,
            "DEPLOYING" => 2,
            "IMAGING" => 3,
            "PENDING" => 4,
            "REBOOT" => 5,
            "REBUILDING" => 6,
            "RECYCLE" => 7,
            "RECYCLING" => 8,
            "RELEASING" => 9,
            "RUNNING" => RUNNING,
            "STOPPED" => 11,
            "STOPPING" => 12,
            other => return Status::Other(other.into()),
        };
        Status::Known(known)
    }

    /// The status as the API spelled it.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Known(i) => KNOWN_STATUSES.get(*i as usize).copied().unwrap_or(""),
            Status::Other(s) => s,
        }
    }

    /// Whether the instance is `RUNNING`.
    pub fn is_running(&self) -> bool {
        *self == Status::Known(RUNNING)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusVisitor;
        impl Visitor<'_> for StatusVisitor {
            type Value = Status;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an instance status string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Status, E> {
                Ok(Status::parse(text))
            }
        }
        deserializer.deserialize_str(StatusVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_statuses_round_trip_and_others_are_kept() {
        for (i, s) in KNOWN_STATUSES.iter().enumerate() {
            assert_eq!(Status::parse(s), Status::Known(i as u8));
            assert_eq!(Status::parse(s).as_str(), *s);
        }
        assert!(Status::parse("RUNNING").is_running());
        assert!(!Status::parse("running").is_running());
        assert_eq!(Status::parse("running"), Status::Other("running".into()));
    }

    #[test]
    fn decodes_from_json_with_escapes() {
        let s: Status = serde_json::from_str(r#""STOPPED""#).unwrap();
        assert_eq!(s, Status::Known(11));
        let s: Status = serde_json::from_str(r#""quo\"te\n""#).unwrap();
        assert_eq!(s.as_str(), "quo\"te\n");
        assert!(serde_json::from_str::<Status>("null").is_err());
    }
}
