//! The success envelope of a paged answer, read in one pass with its rows handed over as they are read, and
//! [`FoldList`], how every list of an answer is read without being kept. The
//! documented envelope wraps the payload in `response`; the action's reference page shows it at the top level;
//! one reader takes either. Rows are handed to the caller as they are read, in the form it asks for, borrowing
//! from the page: a status row, or a `DescribeInstances` row left as its text (`rows::converting` decodes the
//! rows it does not know by their text), so no row is held as sent and again converted. serde's derive cannot
//! hand a `dataSet` to a caller as it is read (it has no seeds), hence the visitors here.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What one level of an envelope said beside its rows: the top level, or the payload in its `response`.
#[derive(Debug, Default)]
pub(super) struct Said {
    pub request_id: Option<String>,
    pub total_count: Option<u64>,
    /// Rows of this level's `dataSet` handed over.
    pub rows: usize,
    /// The payload in `response`, unless it was absent or null (the top level only).
    pub response: Option<Box<Said>>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum Key {
    RequestId,
    TotalCount,
    DataSet,
    Response,
    #[serde(other)]
    Other,
}

/// Reads `text` as a success envelope, handing each row of its `dataSet`s to `row` in the order they come.
pub(super) fn read<'de, T: Deserialize<'de>>(
    text: &'de str,
    row: &mut impl FnMut(T),
) -> Result<Said, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let said = deserializer.deserialize_map(Level {
        row,
        nested: false,
        rows: PhantomData,
    })?;
    deserializer.end()?;
    Ok(said)
}

/// One level of the envelope; `nested` is the payload in `response`, which has no `response` of its own.
struct Level<'r, T, F> {
    row: &'r mut F,
    nested: bool,
    rows: PhantomData<fn(T)>,
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for Level<'_, T, F> {
    type Value = Said;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an answer object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Said, A::Error> {
        /// A field given twice is refused, as serde's derive refuses it.
        fn once<E: de::Error>(seen: &mut bool, field: &'static str) -> Result<(), E> {
            match std::mem::replace(seen, true) {
                true => Err(E::duplicate_field(field)),
                false => Ok(()),
            }
        }
        let mut said = Said::default();
        let mut seen = [false; 4];
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::RequestId => {
                    once(&mut seen[0], "requestId")?;
                    said.request_id = map.next_value()?;
                }
                Key::TotalCount => {
                    once(&mut seen[1], "totalCount")?;
                    said.total_count = map.next_value()?;
                }
                Key::DataSet => {
                    once(&mut seen[2], "dataSet")?;
                    let row = &mut *self.row;
                    said.rows = map.next_value_seed(FoldList::new(0, |count, each: T| {
                        row(each);
                        count + 1
                    }))?;
                }
                Key::Response if !self.nested => {
                    once(&mut seen[3], "response")?;
                    said.response = map
                        .next_value_seed(Payload(Level {
                            row: &mut *self.row,
                            nested: true,
                            rows: PhantomData,
                        }))?
                        .map(Box::new);
                }
                Key::Response | Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(said)
    }
}

/// The payload in `response`: an object, or null for none.
struct Payload<'r, T, F>(Level<'r, T, F>);

impl<'de, T: Deserialize<'de>, F: FnMut(T)> DeserializeSeed<'de> for Payload<'_, T, F> {
    type Value = Option<Said>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Said>, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for Payload<'_, T, F> {
    type Value = Option<Said>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a response object or null")
    }

    fn visit_none<E>(self) -> Result<Option<Said>, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Option<Said>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, payload: D) -> Result<Option<Said>, D::Error> {
        payload.deserialize_map(self.0).map(Some)
    }
}

/// A list, or null for none, folded element by element as it is read into `A`, which is all that is kept of it:
/// a page's rows (handed to the walk), a row's addresses (down to the first IPv4), a ZEC row's NICs.
pub(super) struct FoldList<T, A, F> {
    init: A,
    fold: F,
    elements: PhantomData<fn(T)>,
}

impl<T, A, F> FoldList<T, A, F> {
    pub(super) fn new(init: A, fold: F) -> Self {
        FoldList {
            init,
            fold,
            elements: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>, A, F: FnMut(A, T) -> A> DeserializeSeed<'de> for FoldList<T, A, F> {
    type Value = A;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<A, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, T: Deserialize<'de>, A, F: FnMut(A, T) -> A> Visitor<'de> for FoldList<T, A, F> {
    type Value = A;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list or null")
    }

    fn visit_none<E>(self) -> Result<A, E> {
        Ok(self.init)
    }

    fn visit_unit<E>(self) -> Result<A, E> {
        Ok(self.init)
    }

    fn visit_some<D: Deserializer<'de>>(self, list: D) -> Result<A, D::Error> {
        list.deserialize_seq(self)
    }

    fn visit_seq<S: SeqAccess<'de>>(mut self, mut list: S) -> Result<A, S::Error> {
        let mut folded = self.init;
        while let Some(element) = list.next_element::<T>()? {
            folded = (self.fold)(folded, element);
        }
        Ok(folded)
    }
}
