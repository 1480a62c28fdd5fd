//! The vocabulary of instance statuses: the ones the vendor documents, interned as a byte, and any other string
//! the API sends, kept exactly. Decoding reads a status straight from the JSON text, with no allocation for the
//! known ones, since a million-instance poll decodes a million of them.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

/// Declares the documented statuses once: each variant with the API's spelling and whether an instance passes
/// through it rather than stays in it. Everything else is derived from this list: parsing, the exported order,
/// the state set, the simulator's transitions, and the alerts and dashboard (`mixin/lib/statuses.libsonnet` reads
/// these lines).
macro_rules! statuses {
    (@transitional transitional) => { true };
    (@transitional steady) => { false };
    ($($variant:ident = $text:literal, $kind:ident;)*) => {
        /// A status the vendor documents, stored in one byte.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Known {
            $($variant,)*
        }

        impl Known {
            /// Every documented status, in the order they are exported.
            pub const ALL: [Known; [$($text),*].len()] = [$(Known::$variant),*];

            /// The status as the API spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Known::$variant => $text,)*
                }
            }

            /// Whether an instance passes through this status rather than stays in it.
            pub const fn is_transitional(self) -> bool {
                match self {
                    $(Known::$variant => statuses!(@transitional $kind),)*
                }
            }

            fn parse(text: &str) -> Option<Known> {
                match text {
                    $($text => Some(Known::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    Booting = "BOOTING", transitional;
    CreateFailed = "CREATE_FAILED", steady;
    Deploying = "DEPLOYING", transitional;
    Imaging = "IMAGING", transitional;
    Pending = "PENDING", transitional;
    Reboot = "REBOOT", transitional;
    Rebuilding = "REBUILDING", transitional;
    Recycle = "RECYCLE", steady;
    Recycling = "RECYCLING", transitional;
    Releasing = "RELEASING", transitional;
    Running = "RUNNING", steady;
    Stopped = "STOPPED", steady;
    Stopping = "STOPPING", transitional;
}

/// Every documented status's spelling, in the order they are exported.
pub const KNOWN_STATUSES: [&str; Known::ALL.len()] = {
    let mut out = [""; Known::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = Known::ALL[i].as_str();
        i += 1;
    }
    out
};

/// An instance's status: a documented one, or any other string the API sends, kept exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Known(Known),
    Other(Box<str>),
}

impl Status {
    /// Reads the API's string; never fails, since the API types the field as a free string.
    pub fn parse(text: &str) -> Status {
        match Known::parse(text) {
            Some(known) => Status::Known(known),
            None => Status::Other(text.into()),
        }
    }

    /// The status as the API spelled it.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Known(known) => known.as_str(),
            Status::Other(s) => s,
        }
    }

    /// Whether the instance is `RUNNING`.
    pub fn is_running(&self) -> bool {
        *self == Status::Known(Known::Running)
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
                // An unknown status is kept as sent, and is a label value: bounded like every text field.
                crate::zenlayer::model::check_length(
                    text,
                    crate::zenlayer::model::MAX_TEXT_BYTES,
                    "a status",
                )?;
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
        for (known, s) in Known::ALL.iter().zip(KNOWN_STATUSES) {
            assert_eq!(Status::parse(s), Status::Known(*known));
            assert_eq!(Status::parse(s).as_str(), s);
        }
        let mut sorted = KNOWN_STATUSES;
        sorted.sort_unstable();
        assert_eq!(sorted, KNOWN_STATUSES, "exported in alphabetical order");
        assert!(Known::Stopping.is_transitional() && !Known::Stopped.is_transitional());
        assert!(Status::parse("RUNNING").is_running());
        assert!(!Status::parse("running").is_running());
        assert_eq!(Status::parse("running"), Status::Other("running".into()));
    }

    #[test]
    fn decodes_from_json_with_escapes() {
        let s: Status = serde_json::from_str(r#""STOPPED""#).unwrap();
        assert_eq!(s, Status::Known(Known::Stopped));
        let s: Status = serde_json::from_str(r#""quo\"te\n""#).unwrap();
        assert_eq!(s.as_str(), "quo\"te\n");
        assert!(serde_json::from_str::<Status>("null").is_err());
    }
}
