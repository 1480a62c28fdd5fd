//! One `DescribeInstances` row into the metadata snapshot's form: the tag allow-list applied, timestamps parsed,
//! repeated values taken from the process's interner; and how a walk reads its pages into such rows, a row sent
//! again as the previous snapshot read it being that snapshot's, not decoded again. Both the metadata poll
//! (`poll`) and bare metal's status walk (`rows`) read their rows here.

use std::borrow::Cow;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::metadata::{
    Fingerprint, InstanceMeta, Interner, Known, Metadata, RowValues, TagLabels, label_safe,
};
use crate::zenlayer::model::{InstanceInfo, Text, unix_time};
use crate::zenlayer::page::Read;
use crate::zenlayer::rows::{DecodeRow, converting};

/// How a full walk reads its pages into the snapshot's rows: a row sent again as the `previous` snapshot read it
/// is that snapshot's row, known by its text (`known`, the previous snapshot's); any other is decoded, and shared
/// with the previous snapshot's row when it says the same.
pub fn walk_reader<'w>(
    rows: DecodeRow,
    (previous, known): (Option<&'w Metadata>, &'w Known<'w>),
    tags: &'w TagLabels,
    interner: &'w Interner,
) -> impl Read<Arc<InstanceMeta>> + 'w {
    converting(
        rows,
        |fingerprint, text| known.get(fingerprint, text).cloned(),
        move |row: InstanceInfo, fingerprint| decoded(row, fingerprint, previous, tags, interner),
    )
}

/// A row decoded from a text of this fingerprint, as the next snapshot holds it: the `previous` snapshot's own
/// row when it says the same and was read from the same text ([`Metadata::shared`]).
pub(super) fn decoded(
    row: InstanceInfo<'_>,
    fingerprint: u64,
    previous: Option<&Metadata>,
    tags: &TagLabels,
    interner: &Interner,
) -> Arc<InstanceMeta> {
    let meta = InstanceMeta {
        fingerprint: Fingerprint(fingerprint),
        ..instance_meta(row, tags, interner)
    };
    Metadata::shared(previous, meta)
}

/// One API row in the snapshot's form, its repeated label values taken from `interner` (rows share them from the
/// start, so a large fleet never holds a copy per row, not even while it is read). An unparseable
/// timestamp drops that one fact, not the row: the names and zones matter more than one date, and the row's
/// other series are still right. Its fingerprint is left for the caller, which has the row's text
/// ([`decoded`]).
pub fn instance_meta(
    info: InstanceInfo<'_>,
    tags: &TagLabels,
    interner: &Interner,
) -> InstanceMeta {
    let count = |v: Option<f64>| v.filter(|n| n.is_finite() && *n >= 0.0);
    let prepaid = info
        .instance_charge_type
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("PREPAID"));
    // Every (key, value), sorted: a key listed twice keeps its smallest value, whatever order the API used. The
    // lists are per row and short: on the stack, not allocated a thousand times a page.
    let mut pairs: SmallVec<[(&str, &str); 8]> = info
        .tags
        .iter()
        .flat_map(|t| t.list())
        .filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref().unwrap_or(""))))
        .filter(|(key, _)| !key.is_empty())
        .collect();
    pairs.sort_unstable();
    pairs.dedup_by(|later, first| later.0 == first.0);
    let mut tag_values: SmallVec<[&str; 8]> = smallvec::smallvec![""; tags.keys().len()];
    for (key, value) in &pairs {
        if let Some(at) = tags.position(key) {
            tag_values[at] = value;
        }
    }
    // Keys that become the same label-safe key: the stable sort keeps them in byte order, the first stays.
    let mut safe: SmallVec<[(Cow<str>, &str); 8]> =
        pairs.iter().map(|(k, v)| (label_safe(k), *v)).collect();
    safe.sort_by(|a, b| a.0.cmp(&b.0));
    safe.dedup_by(|later, first| later.0 == first.0);
    let safe: SmallVec<[(&str, &str); 8]> = safe.iter().map(|(k, v)| (&**k, *v)).collect();
    fn text<'a>(v: &'a Option<Text>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
    let (profile, all_tags) = interner.row(RowValues {
        labels: [
            text(&info.zone_id),
            text(&info.instance_type),
            text(&info.image_name),
            text(&info.instance_charge_type),
            text(&info.resource_group_name),
            text(&info.resource_group_id),
        ],
        tags: &tag_values,
        numbers: (
            count(info.cpu_count),
            count(info.memory).map(|gib| gib * 1024.0 * 1024.0 * 1024.0),
        ),
        all_tags: &safe,
    });
    InstanceMeta {
        name: info.instance_name.unwrap_or_default().0.into(),
        profile,
        created: info.create_time.as_deref().and_then(unix_time),
        expiry: prepaid
            .then(|| info.expired_time.as_deref().and_then(unix_time))
            .flatten(),
        auto_renew: prepaid.then_some(info.auto_renew).flatten(),
        private_ip: info.private_ip.0,
        public_ip: info.public_ip.0,
        all_tags,
        id: info.instance_id,
        fingerprint: Fingerprint::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zenlayer::model::{FirstIpv4, Tag, Tags};

    #[test]
    fn times() {
        assert_eq!(unix_time("2026-01-15T08:30:00Z"), Some(1_768_465_800.0));
        assert_eq!(
            unix_time("2026-01-15T16:30:00+08:00"),
            Some(1_768_465_800.0)
        );
        assert_eq!(unix_time("2026-01-15 08:30:00"), Some(1_768_465_800.0));
        assert_eq!(unix_time("2026-01-15T08:30:00.5Z"), Some(1_768_465_800.5));
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "1768465800"] {
            assert_eq!(unix_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn rows_become_snapshot_entries() {
        let tags = TagLabels::parse("env,team,dup").unwrap();
        let tag = |k: &'static str, v: Option<&'static str>| Tag {
            key: Some(k.into()),
            value: v.map(Into::into),
        };
        let info = InstanceInfo {
            instance_id: "1".into(),
            instance_name: Some("web".into()),
            instance_charge_type: Some("PREPAID".into()),
            memory: Some(8.0),
            cpu_count: Some(-1.0),
            create_time: Some("garbage".into()),
            expired_time: Some("2026-08-15T08:30:00Z".into()),
            auto_renew: Some(false),
            tags: Some(Tags::Wrapped {
                tags: Some(vec![
                    tag("env", Some("prod")),
                    tag("team", None),
                    tag("other", Some("x")),
                    tag("dup", Some("b")),
                    tag("dup", Some("a")),
                ]),
            }),
            ..InstanceInfo::default()
        };
        let meta = instance_meta(info.clone(), &tags, &Interner::default());
        assert_eq!(&*meta.name, "web");
        // Every tag for service discovery, label-safe and sorted; one value per key, the smallest.
        let all: Vec<(&str, &str)> = meta.all_tags.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(
            all,
            [("dup", "a"), ("env", "prod"), ("other", "x"), ("team", "")]
        );
        assert_eq!((meta.private_ip, meta.public_ip), (None, None));
        let addressed = instance_meta(
            InstanceInfo {
                private_ip: FirstIpv4(Some([10, 0, 0, 7].into())),
                public_ip: FirstIpv4(Some([203, 0, 113, 5].into())),
                ..info.clone()
            },
            &tags,
            &Interner::default(),
        );
        assert_eq!(
            (addressed.private_ip, addressed.public_ip),
            (Some([10, 0, 0, 7].into()), Some([203, 0, 113, 5].into()))
        );
        assert_eq!(&*meta.profile.labels[0], "");
        assert_eq!(
            meta.profile.tags.iter().map(|t| &**t).collect::<Vec<_>>(),
            ["prod", "", "a"]
        );
        assert_eq!(
            meta.profile.memory_bytes,
            Some(8.0 * 1024.0 * 1024.0 * 1024.0)
        );
        assert_eq!(meta.profile.cpu_count, None, "a negative count is no count");
        assert_eq!(meta.created, None);
        assert_eq!(meta.expiry, Some(1_786_782_600.0));
        assert_eq!(meta.auto_renew, Some(false));
        let postpaid = instance_meta(
            InstanceInfo {
                instance_charge_type: Some("POSTPAID".into()),
                ..info.clone()
            },
            &tags,
            &Interner::default(),
        );
        assert_eq!((postpaid.expiry, postpaid.auto_renew), (None, None));
        // Two instances of one kind share one profile; another kind has its own.
        let interner = Interner::default();
        let twin = |id: &str, zone: &str, interner: &Interner| {
            let row = InstanceInfo {
                instance_id: id.into(),
                zone_id: Some(zone.into()),
                ..info.clone()
            };
            instance_meta(row, &tags, interner)
        };
        let (a, b) = (twin("a", "FRA-A", &interner), twin("b", "FRA-A", &interner));
        assert!(Arc::ptr_eq(&a.profile, &b.profile));
        assert!(Arc::ptr_eq(&a.all_tags, &b.all_tags));
        assert!(!Arc::ptr_eq(
            &a.profile,
            &twin("c", "SIN-A", &interner).profile
        ));
        // Every account's polls read through the process's one interner: two accounts' rows of one kind share it.
        let (x, y) = (
            twin("x", "FRA-A", Interner::shared()),
            twin("y", "FRA-A", Interner::shared()),
        );
        assert!(Arc::ptr_eq(&x.profile, &y.profile));
        assert!(Arc::ptr_eq(&x.all_tags, &y.all_tags));
    }
}

#[cfg(test)]
mod known_rows {
    use std::cell::Cell;
    use std::time::SystemTime;

    use super::*;
    use crate::zenlayer::rows::own_row;

    thread_local! {
        /// Rows decoded by [`counted`] on this test's thread.
        static DECODED: Cell<usize> = const { Cell::new(0) };
    }

    fn counted(text: &str) -> serde_json::Result<InstanceInfo<'_>> {
        DECODED.set(DECODED.get() + 1);
        own_row::<InstanceInfo>(text)
    }

    fn page(rows: &[(&str, &str, &str)]) -> Vec<u8> {
        let rows: Vec<_> = rows
            .iter()
            .map(|(id, name, image)| {
                serde_json::json!({"instanceId": id, "instanceName": name, "imageId": image, "zoneId": "FRA-A"})
            })
            .collect();
        serde_json::json!({"response": {"totalCount": rows.len(), "dataSet": rows}})
            .to_string()
            .into_bytes()
    }

    /// One walk over `body`, after the snapshot `previous`: its snapshot, and how many rows were decoded.
    fn walk(body: &[u8], previous: Option<&Metadata>) -> (Metadata, usize) {
        let (tags, interner) = (TagLabels::parse("env").unwrap(), Interner::default());
        let known = previous.map(Metadata::known).unwrap_or_default();
        let before = DECODED.get();
        let read = walk_reader(counted, (previous, &known), &tags, &interner);
        let rows = read(body).unwrap().data_set;
        let decoded = DECODED.get() - before;
        (Metadata::new(rows, SystemTime::UNIX_EPOCH), decoded)
    }

    #[test]
    fn a_row_sent_again_as_it_was_is_the_previous_snapshots_without_being_decoded() {
        let first = page(&[("1", "web", "img-a"), ("2", "db", "img-a")]);
        let (served, decoded) = walk(&first, None);
        assert_eq!(decoded, 2);
        let (again, decoded) = walk(&first, Some(&served));
        assert_eq!(decoded, 0);
        for (a, b) in again.instances().iter().zip(served.instances()) {
            assert!(Arc::ptr_eq(a, b));
        }

        // A field the exporter drops changed: the row is read again and says the same, so it is equal (its
        // rendering serves), and the next walk knows it by its new text.
        let dropped = page(&[("1", "web", "img-b"), ("2", "db", "img-a")]);
        let (next, decoded) = walk(&dropped, Some(&again));
        assert_eq!(decoded, 1);
        assert_eq!(next.instances(), again.instances());
        assert!(!Arc::ptr_eq(&next.instances()[0], &again.instances()[0]));
        assert!(Arc::ptr_eq(&next.instances()[1], &again.instances()[1]));
        assert_eq!(walk(&dropped, Some(&next)).1, 0);

        // A field it keeps changed: read again, as it now is.
        let renamed = page(&[("1", "web-2", "img-b"), ("2", "db", "img-a")]);
        let (renamed, decoded) = walk(&renamed, Some(&next));
        assert_eq!(decoded, 1);
        assert_eq!(&*renamed.get("1").unwrap().name, "web-2");
    }

    #[test]
    fn a_fingerprint_is_taken_only_for_a_text_naming_the_same_instance() {
        let (served, _) = walk(&page(&[("1234", "web", "img-a")]), None);
        let row = &served.instances()[0];
        let known = served.known();
        let print = row.fingerprint.0;
        assert_ne!(print, 0);
        assert!(known.get(print, r#"{"instanceId":"1234"}"#).is_some());
        assert!(known.get(print, r#"{"instanceId":"5678"}"#).is_none());
        assert!(known.get(print ^ 1, r#"{"instanceId":"1234"}"#).is_none());
        // A row not read from a page has no fingerprint and is never known.
        let bare = Metadata::new(
            vec![InstanceMeta::bare("1234", "web")],
            SystemTime::UNIX_EPOCH,
        );
        assert!(bare.known().get(0, "1234").is_none());
    }
}
