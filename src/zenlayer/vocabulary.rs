//! The vocabulary of instance statuses: the ones the vendor documents for any product, interned as a byte, with
//! which products have each; and any other string the API sends, kept exactly. Decoding reads a status straight from the JSON text, with no allocation for the
//! known ones, since a million-instance poll decodes a million of them.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

use super::product::Product;

/// Declares the documented statuses once: each variant with the API's spelling, its kind (an instance passes
/// through a `transitional` one, stays in a `steady` one, and is stuck in a `failed` one until someone acts), and
/// the products whose vocabulary has it. Everything else is derived from this list: parsing, the exported order,
/// each product's state set and counts, the simulator's transitions, and the alerts and dashboard
/// (`mixin/lib/statuses.libsonnet` reads these lines).
macro_rules! statuses {
    (@kind transitional) => { Kind::Transitional };
    (@kind steady) => { Kind::Steady };
    (@kind failed) => { Kind::Failed };
    ($($variant:ident = $text:literal, $kind:ident, $($product:ident)+;)*) => {
        /// A status the vendor documents for some product, stored in one byte.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Known {
            $($variant,)*
        }

        impl Known {
            /// Every documented status of every product, in the order they are exported.
            pub const ALL: [Known; [$($text),*].len()] = [$(Known::$variant),*];

            /// The status as the API spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Known::$variant => $text,)*
                }
            }

            /// Whether an instance passes through it, stays in it, or is stuck in it.
            pub const fn kind(self) -> Kind {
                match self {
                    $(Known::$variant => statuses!(@kind $kind),)*
                }
            }

            /// Whether `product`'s vocabulary has it.
            pub fn is_of(self, product: Product) -> bool {
                match self {
                    $(Known::$variant => matches!(product, $(Product::$product)|+),)*
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

/// How an instance is in a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// It passes through: an alert waits for it to last.
    Transitional,
    /// It stays.
    Steady,
    /// An operation failed and the instance stays so until someone acts: each product's failure states.
    Failed,
}

// Sources: VM zenlayer-api.md; ZEC the vendor's CLI and Terraform provider (adds RESIZING, REINSTALL_FAILED); BMC
// the same (CREATING, INSTALLING, INSTALL_FAILED; no DEPLOYING, REBUILDING, REBOOT, RELEASING, IMAGING).
statuses! {
    Booting = "BOOTING", transitional, Vm Zec Bmc;
    CreateFailed = "CREATE_FAILED", failed, Vm Zec Bmc;
    Creating = "CREATING", transitional, Bmc;
    Deploying = "DEPLOYING", transitional, Vm Zec;
    Imaging = "IMAGING", transitional, Vm Zec;
    Installing = "INSTALLING", transitional, Bmc;
    InstallFailed = "INSTALL_FAILED", failed, Bmc;
    Pending = "PENDING", transitional, Vm Zec Bmc;
    Reboot = "REBOOT", transitional, Vm Zec;
    Rebuilding = "REBUILDING", transitional, Vm Zec;
    Recycle = "RECYCLE", steady, Vm Zec Bmc;
    Recycling = "RECYCLING", transitional, Vm Zec Bmc;
    ReinstallFailed = "REINSTALL_FAILED", failed, Zec;
    Releasing = "RELEASING", transitional, Vm Zec;
    Resizing = "RESIZING", transitional, Zec;
    Running = "RUNNING", steady, Vm Zec Bmc;
    Stopped = "STOPPED", steady, Vm Zec Bmc;
    Stopping = "STOPPING", transitional, Vm Zec Bmc;
}

impl Known {
    /// Whether an instance passes through this status rather than stays in it.
    pub const fn is_transitional(self) -> bool {
        matches!(self.kind(), Kind::Transitional)
    }

    /// The statuses of `product`'s vocabulary, in the order they are exported.
    pub fn of(product: Product) -> impl Iterator<Item = Known> {
        Known::ALL.into_iter().filter(move |k| k.is_of(product))
    }
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
                super::bounds::check_length(text, super::bounds::MAX_TEXT_BYTES, "a status")?;
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
    fn each_product_has_the_vocabulary_its_sources_document() {
        let of = |p| Known::of(p).map(Known::as_str).collect::<Vec<_>>();
        assert_eq!(of(Product::Vm).len(), 13);
        assert_eq!(of(Product::Zec).len(), 15);
        assert_eq!(
            of(Product::Bmc),
            [
                "BOOTING",
                "CREATE_FAILED",
                "CREATING",
                "INSTALLING",
                "INSTALL_FAILED",
                "PENDING",
                "RECYCLE",
                "RECYCLING",
                "RUNNING",
                "STOPPED",
                "STOPPING"
            ]
        );
        let failed = |p| {
            Known::of(p)
                .filter(|k| k.kind() == Kind::Failed)
                .map(Known::as_str)
                .collect::<Vec<_>>()
        };
        assert_eq!(failed(Product::Vm), ["CREATE_FAILED"]);
        assert_eq!(failed(Product::Zec), ["CREATE_FAILED", "REINSTALL_FAILED"]);
        assert_eq!(failed(Product::Bmc), ["CREATE_FAILED", "INSTALL_FAILED"]);
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
