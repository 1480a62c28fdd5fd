//! Pages of an answer and how they are read: [`Page`], a paged describe call's 200 answer read in one pass (the
//! envelope's visitors are `envelope`'s; a status page in its plain shape is `plain`'s), the walk's [`Read`] of
//! an action, and an unpaged answer's list read row by row. The rows themselves are `model`'s and `rows`'s, and
//! `rows` reads `DescribeInstances` pages row by row.

use serde::Deserialize;

use super::envelope::Said;
use super::error::clip;
use super::model::InstanceStatus;
use super::vocabulary::Status;

/// One page of a paged describe call, whichever envelope it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub request_id: Option<String>,
    /// Instances matching the request across all pages, as the API counted them when it answered this page.
    pub total_count: u64,
    pub data_set: Vec<T>,
}

/// What a page said beside its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct PageHead {
    pub request_id: Option<String>,
    pub total_count: u64,
}

impl PageHead {
    /// The page of these rows.
    pub fn with<T>(self, data_set: Vec<T>) -> Page<T> {
        Page {
            request_id: self.request_id,
            total_count: self.total_count,
            data_set,
        }
    }
}

/// Why a 200 answer could not be read as a page.
#[derive(Debug, PartialEq, Eq)]
pub struct PageDecodeError {
    pub detail: String,
    pub request_id: Option<String>,
}

/// How the pages of one action are read: the JSON of a 200 answer into a page of `T`, each row turned into the
/// caller's form while the bytes it may borrow are still there.
pub trait Read<T>: Fn(&[u8]) -> Result<Page<T>, PageDecodeError> + Sync {}

impl<T, F: Fn(&[u8]) -> Result<Page<T>, PageDecodeError> + Sync> Read<T> for F {}

impl<T> Page<T> {
    /// The same page with every row turned into a `U`.
    pub fn map<U>(self, convert: impl FnMut(T) -> U) -> Page<U> {
        Page {
            request_id: self.request_id,
            total_count: self.total_count,
            data_set: self.data_set.into_iter().map(convert).collect(),
        }
    }

    /// The same page's head with `rows`.
    pub(super) fn map_rows<U>(&self, rows: Vec<U>) -> Page<U> {
        PageHead {
            request_id: self.request_id.clone(),
            total_count: self.total_count,
        }
        .with(rows)
    }
}

/// Decodes a 200 answer, its rows borrowing from `body` where they can.
pub fn decode_page<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<Page<T>, PageDecodeError> {
    decode_text(utf8(body)?)
}

/// Decodes a 200 answer of `DescribeInstancesStatus` as [`decode_page`] does, in about 60% of the time when the
/// page is in its plain shape (`plain`, which leaves every other page to serde).
pub fn decode_statuses(body: &[u8]) -> Result<Page<InstanceStatus<Status>>, PageDecodeError> {
    let text = utf8(body)?;
    let mut rows = Vec::new();
    let said = super::plain::read(text, &mut |row| rows.push(row));
    match said {
        Some(said) => Ok(head(said)?.with(rows)),
        None => decode_text(text),
    }
}

/// JSON is UTF-8 (RFC 8259): checked once for the whole page, so that serde_json reads every string without
/// checking it again (from bytes it checks each string it keeps on its own, the larger part of decoding a
/// metadata page).
fn utf8(body: &[u8]) -> Result<&str, PageDecodeError> {
    std::str::from_utf8(body).map_err(|e| PageDecodeError {
        detail: format!("invalid JSON page: not UTF-8 ({e})"),
        request_id: None,
    })
}

/// Decodes a 200 answer's text in one pass (`envelope`). A missing or null `dataSet` is an empty page; a missing
/// `totalCount` is an error, since paging cannot be planned without it ([`head`]).
fn decode_text<'a, T: Deserialize<'a>>(text: &'a str) -> Result<Page<T>, PageDecodeError> {
    let mut rows = Vec::new();
    // serde_json quotes the value it could not take (a 15 MiB string where a count belongs): clipped, since the
    // detail is logged at every failed poll and shown on the landing page.
    let said =
        super::envelope::read(text, &mut |row| rows.push(row)).map_err(|e| PageDecodeError {
            detail: format!("invalid JSON page: {}", clip(&e.to_string())),
            request_id: None,
        })?;
    Ok(head(said)?.with(rows))
}

/// What an envelope's levels said, as a page's head: the payload's, else the top level's. An answer with rows
/// at its top level beside a `response` is refused, since neither is then surely the answer.
fn head(said: Said) -> Result<PageHead, PageDecodeError> {
    let flat_rows = said.rows;
    let wrapped = said.response.is_some();
    let (request_id, total_count) = match said.response {
        Some(inner) => (inner.request_id.or(said.request_id), inner.total_count),
        None => (said.request_id, said.total_count),
    };
    // Logged and shown on the landing page: kept short and on one line, whatever the server sent.
    let request_id = request_id.as_deref().map(clip);
    let refused = |detail: &str| PageDecodeError {
        detail: detail.into(),
        request_id: request_id.clone(),
    };
    if flat_rows > 0 && wrapped {
        return Err(refused(
            "answer has rows at its top level beside a response",
        ));
    }
    let Some(total_count) = total_count else {
        return Err(refused("answer has no totalCount"));
    };
    Ok(PageHead {
        request_id,
        total_count,
    })
}

/// Decodes a 200 answer of an unpaged action (hardware health, maintenance) as a page holding every row of its
/// list `key` (`monitorHealthList`, `dataList`), each row left as its JSON text ([`decode_row`] reads one): there
/// is no `totalCount`, and a missing or null list is empty (`zenlayer-products.md` §4). Another action's list is
/// not this one's. An answer that carries an error `code` (at the top or in `response`) is not read as an empty
/// list: it is refused, so the caller classifies the error by its code, as for any other status.
pub fn decode_list<'a>(
    body: &'a [u8],
    key: &str,
) -> Result<Page<&'a serde_json::value::RawValue>, PageDecodeError> {
    use serde_json::value::RawValue;
    type Fields<'a> = std::collections::HashMap<String, &'a RawValue>;
    let refused = |detail: String| PageDecodeError {
        detail,
        request_id: None,
    };
    let text = std::str::from_utf8(body)
        .map_err(|e| refused(format!("invalid JSON answer: not UTF-8 ({e})")))?;
    let parse = |text: &'a str| -> Result<Fields<'a>, PageDecodeError> {
        serde_json::from_str(text)
            .map_err(|e| refused(format!("invalid JSON answer: {}", clip(&e.to_string()))))
    };
    // An error code is a string, and no success code is documented: a `code` of `SUCCESS`, `OK`, `0` or a
    // number is not taken for an error.
    let error_code = |fields: &Fields| {
        fields
            .get("code")
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
            .is_some_and(|code| {
                let code = code.trim();
                !code.is_empty()
                    && !["SUCCESS", "OK", "0"]
                        .iter()
                        .any(|ok| code.eq_ignore_ascii_case(ok))
            })
    };
    let top = parse(text)?;
    let payload = match top.get("response") {
        Some(inner) if inner.get() != "null" => parse(inner.get())?,
        _ => top.clone(),
    };
    if error_code(&top) || error_code(&payload) {
        return Err(refused("the answer is an error envelope".into()));
    }
    let request_id = [&payload, &top]
        .into_iter()
        .find_map(|fields| fields.get("requestId"))
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .map(|id| clip(&id));
    let data_set: Vec<&'a RawValue> = match payload.get(key) {
        Some(list) if list.get() != "null" => serde_json::from_str(list.get())
            .map_err(|e| refused(format!("invalid {key}: {}", clip(&e.to_string()))))?,
        _ => Vec::new(),
    };
    Ok(Page {
        request_id,
        total_count: data_set.len() as u64,
        data_set,
    })
}

/// One row of an unpaged answer read on its own (from [`decode_list`]): a row that does not decode is that row's
/// error, clipped to a line, and the rest of the answer is still read.
pub fn decode_row<'a, T: Deserialize<'a>>(
    row: &'a serde_json::value::RawValue,
) -> Result<T, String> {
    serde_json::from_str(row.get()).map_err(|e| clip(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::zenlayer::model::*;

    #[test]
    fn error_fields_are_clipped_to_one_short_line() {
        let forged = "BAD\n2026-01-01T00:00:00Z  INFO zenlayer_exporter: \u{1b}[31mforged line";
        let huge = "C".repeat(300_000);
        let body =
            serde_json::json!({"requestId": huge, "code": forged, "message": forged}).to_string();
        let e = decode_error(body.as_bytes()).unwrap();
        for field in [&e.code, &e.message, &e.request_id] {
            let field = field.as_deref().unwrap();
            assert!(!field.chars().any(char::is_control), "{field:?}");
            assert!(field.chars().count() <= 201, "{} chars", field.len());
        }
        let body = serde_json::json!({"requestId": forged, "totalCount": 0}).to_string();
        let page = decode_page::<InstanceStatus>(body.as_bytes()).unwrap();
        assert!(!page.request_id.unwrap().contains(['\n', '\u{1b}']));
        // A decode error quotes what it could not take: a 15 MiB string where totalCount belongs stays a line.
        let body = format!(
            r#"{{"totalCount":"{}\u2028forged","dataSet":[]}}"#,
            "9".repeat(15 << 20)
        );
        let e = decode_page::<InstanceStatus>(body.as_bytes()).unwrap_err();
        assert!(e.detail.chars().count() < 260, "{} chars", e.detail.len());
        assert!(
            e.detail
                .starts_with("invalid JSON page: invalid type: string"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn ids_and_text_fields_are_bounded() {
        let page = |id: &str, name: &str, tag: &str, status: &str| {
            let status_body = serde_json::json!({"totalCount": 1, "dataSet": [{"instanceId": id, "instanceStatus": status}]});
            let info_body = serde_json::json!({"totalCount": 1, "dataSet": [{"instanceId": id, "instanceName": name,
                "tags": {"tags": [{"key": "k", "value": tag}]}}]});
            (
                decode_page::<InstanceStatus>(status_body.to_string().as_bytes()).map(|_| ()),
                decode_page::<InstanceInfo>(info_body.to_string().as_bytes()).map(|_| ()),
            )
        };
        let (id, text) = ("1".repeat(MAX_ID_BYTES), "n".repeat(MAX_TEXT_BYTES));
        assert_eq!(page(&id, &text, &text, &text), (Ok(()), Ok(())));
        let long_id = "1".repeat(MAX_ID_BYTES + 1);
        let long = "n".repeat(MAX_TEXT_BYTES + 1);
        for (status, info) in [
            page(&long_id, "a", "b", "RUNNING"),
            page("1", &long, "b", &long),
            page("1", "a", &long, "RUNNING\u{0}"),
        ] {
            for e in [status, info].into_iter().filter_map(Result::err) {
                // Within `tags`, serde's untagged enum says only that no shape matched.
                let said = e.detail.contains("bytes allowed") || e.detail.contains("enum Tags");
                assert!(said, "{}", e.detail);
                assert!(
                    !e.detail.contains("nnnn") && !e.detail.contains("1111"),
                    "{}",
                    e.detail
                );
            }
        }
        assert!(page("1", "a", &long, "RUNNING").1.is_err());
        assert!(page("1", "a", "b", &long).0.is_err());
        assert!(page(&long_id, "a", "b", "RUNNING").0.is_err());
    }

    #[test]
    fn rows_borrow_from_the_page_and_a_page_must_be_utf8() {
        let body = br#"{"totalCount":2,"dataSet":[{"instanceId":"a","instanceName":"web-01","zoneId":"FRA-A"},
            {"instanceId":"b","instanceName":"caf\u00e9 \"01\""}]}"#;
        let page = decode_page::<InstanceInfo>(body).unwrap();
        fn name<'a>(row: &InstanceInfo<'a>) -> Cow<'a, str> {
            row.instance_name.clone().unwrap().0
        }
        assert!(matches!(name(&page.data_set[0]), Cow::Borrowed("web-01")));
        // Escapes cannot be borrowed: that one string is a copy, the others still borrowed.
        assert_eq!(
            name(&page.data_set[1]),
            Cow::<str>::Owned("café \"01\"".into())
        );
        // A name in Latin-1, not UTF-8.
        let mut latin1 = body.to_vec();
        let at = body.windows(6).position(|w| w == b"web-01").unwrap();
        latin1[at + 3] = 0xe9;
        let e = decode_page::<InstanceInfo>(&latin1).unwrap_err();
        assert!(
            e.detail.starts_with("invalid JSON page: not UTF-8"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn wrapped_and_flat_envelopes_decode_alike() {
        let wrapped = br#"{"requestId":"T1","response":{"requestId":"T1","totalCount":2,
            "dataSet":[{"instanceId":"a","instanceStatus":"RUNNING"}]}}"#;
        let flat = br#"{"requestId":"T1","totalCount":2,"dataSet":[{"instanceId":"a","instanceStatus":"RUNNING"}]}"#;
        let a: Page<InstanceStatus> = decode_page(wrapped).unwrap();
        let b: Page<InstanceStatus> = decode_page(flat).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.total_count, 2);
        assert_eq!(a.request_id.as_deref(), Some("T1"));
    }

    #[test]
    fn an_envelope_is_read_in_one_pass_and_an_ambiguous_one_is_refused() {
        let ids = |body: &str| {
            decode_page::<InstanceStatus>(body.as_bytes()).map(|page| {
                let ids: Vec<String> = page
                    .data_set
                    .iter()
                    .map(|r| r.instance_id.to_string())
                    .collect();
                (page.total_count, page.request_id, ids)
            })
        };
        let row = |id: &str| format!(r#"{{"instanceId":"{id}","instanceStatus":"RUNNING"}}"#);
        // Fields in any order, unknown ones (a nested response in the payload among them) skipped, the payload's
        // request id before the top level's.
        let wrapped = format!(
            r#"{{"response":{{"dataSet":[{}],"response":{{"x":1}},"extra":[1,{{}}],"totalCount":1,"requestId":"in"}},"requestId":"out"}}"#,
            row("a")
        );
        assert_eq!(
            ids(&wrapped).unwrap(),
            (1, Some("in".into()), vec!["a".into()])
        );
        // A null response is the flat envelope; a null or absent dataSet is no rows.
        let flat = format!(
            r#"{{"response":null,"totalCount":1,"dataSet":[{}]}}"#,
            row("b")
        );
        assert_eq!(ids(&flat).unwrap().2, ["b"]);
        assert!(
            ids(r#"{"response":{"totalCount":0,"dataSet":null}}"#)
                .unwrap()
                .2
                .is_empty()
        );
        // Rows at the top level beside a response: neither is surely the answer.
        let both = format!(
            r#"{{"dataSet":[{}],"response":{{"totalCount":1,"dataSet":[{}]}}}}"#,
            row("c"),
            row("d")
        );
        let err = ids(&both).unwrap_err();
        assert!(err.detail.contains("beside a response"), "{}", err.detail);
        // A field twice is refused, as serde refuses it, and so is trailing text.
        let twice = format!(
            r#"{{"totalCount":1,"dataSet":[{}],"dataSet":[]}}"#,
            row("e")
        );
        assert!(
            ids(&twice)
                .unwrap_err()
                .detail
                .contains("duplicate field `dataSet`")
        );
        assert!(ids(r#"{"totalCount":0} {}"#).is_err());
        assert!(ids(r#"[{"totalCount":0}]"#).is_err());
    }

    #[test]
    fn null_or_missing_data_set_is_empty() {
        for body in [
            &br#"{"response":{"totalCount":0,"dataSet":null}}"#[..],
            br#"{"response":{"totalCount":0}}"#,
        ] {
            let page: Page<InstanceStatus> = decode_page(body).unwrap();
            assert!(page.data_set.is_empty());
        }
    }

    #[test]
    fn bad_pages_name_the_problem() {
        let err = decode_page::<InstanceStatus>(br#"{"response":{"dataSet":[]}}"#).unwrap_err();
        assert_eq!(err.detail, "answer has no totalCount");
        let err = decode_page::<InstanceStatus>(br#"{"response":{"totalCount":-1}}"#).unwrap_err();
        assert!(err.detail.contains("invalid JSON page"), "{}", err.detail);
        let err = decode_page::<InstanceStatus>(
            br#"{"response":{"totalCount":1,"dataSet":[{"instanceId":"a"}]}}"#,
        )
        .unwrap_err();
        assert!(err.detail.contains("instanceStatus"), "{}", err.detail);
        assert!(decode_page::<InstanceStatus>(b"<html>").is_err());
    }

    #[test]
    fn instance_info_accepts_nulls_absences_and_both_tag_shapes() {
        let page: Page<InstanceInfo> = decode_page(
            br#"{"response":{"totalCount":4,"dataSet":[
              {"instanceId":"a","instanceName":"web","cpuCount":4,"memory":8,"autoRenew":true,
               "tags":{"tags":[{"key":"env","value":"prod"},{"key":"bare"}]},"publicIpAddresses":["1.2.3.4"]},
              {"instanceId":"b","instanceName":null,"cpuCount":null,"tags":null,"expiredTime":null},
              {"instanceId":"c","tags":{"tags":null}},
              {"instanceId":"d","cpuCount":2.0,"tags":[{"key":"k","value":"v"}]}]}}"#,
        )
        .unwrap();
        let rows = page.data_set;
        assert_eq!(rows[0].instance_name.as_deref(), Some("web"));
        assert_eq!(rows[0].tags.as_ref().unwrap().list().len(), 2);
        assert_eq!(rows[0].tags.as_ref().unwrap().list()[1].value, None);
        assert_eq!(
            rows[1],
            InstanceInfo {
                instance_id: "b".into(),
                ..InstanceInfo::default()
            }
        );
        assert!(rows[2].tags.as_ref().unwrap().list().is_empty());
        assert_eq!(rows[3].cpu_count, Some(2.0));
        assert_eq!(
            rows[3].tags.as_ref().unwrap().list()[0].key.as_deref(),
            Some("k")
        );
        assert!(
            decode_page::<InstanceInfo>(
                br#"{"response":{"totalCount":1,"dataSet":[{"instanceName":"x"}]}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn example_page_from_the_api_reference_decodes() {
        let page: Page<InstanceInfo> = decode_page(include_bytes!(
            "../../tests/fixtures/describe-instances-example.json"
        ))
        .unwrap();
        assert_eq!(page.total_count, 2);
        let web = &page.data_set[0];
        assert_eq!(web.instance_name.as_deref(), Some("web-fra-01"));
        assert_eq!(web.zone_id.as_deref(), Some("FRA-A"));
        assert_eq!(web.expired_time.as_deref(), Some("2026-08-15T08:30:00Z"));
        assert_eq!(page.data_set[1].expired_time, None);
        assert_eq!(web.private_ip, FirstIpv4(Some([10, 0, 0, 12].into())));
        assert_eq!(web.public_ip, FirstIpv4(Some([203, 0, 113, 10].into())));
    }

    #[test]
    fn an_unpaged_answer_reads_its_own_list_and_an_error_envelope_is_no_empty_list() {
        let rows = |body: &str, key: &str| {
            decode_list(body.as_bytes(), key).map(|p| {
                p.data_set
                    .iter()
                    .map(|r| r.get().to_owned())
                    .collect::<Vec<_>>()
            })
        };
        let both = r#"{"requestId":"T","response":{"monitorHealthList":[{"instanceId":"1"}],"dataList":[]}}"#;
        assert_eq!(
            rows(both, "monitorHealthList").unwrap(),
            [r#"{"instanceId":"1"}"#]
        );
        assert_eq!(rows(both, "dataList").unwrap(), Vec::<String>::new());
        let flat = r#"{"requestId":"T","dataList":[{"instanceId":"2"}]}"#;
        assert_eq!(rows(flat, "dataList").unwrap().len(), 1);
        assert_eq!(rows(r#"{"response":null}"#, "dataList").unwrap().len(), 0);
        for refused in [
            r#"{"requestId":"T","code":"INTERNAL_SERVER_ERROR","message":"boom"}"#,
            r#"{"response":{"requestId":"T","code":"AUTH_FAILURE_SIGNATURE","message":"bad"}}"#,
            r#"{"code":"X","response":{"monitorHealthList":[]}}"#,
        ] {
            assert!(rows(refused, "monitorHealthList").is_err(), "{refused}");
            // The caller then reads the envelope as the error it is.
            assert!(decode_error(refused.as_bytes()).is_some(), "{refused}");
        }
        assert!(rows("[]", "dataList").is_err());
        // A success that says so is read as one.
        for success in [
            r#"{"code":"SUCCESS","dataList":[{}]}"#,
            r#"{"code":0,"dataList":[{}]}"#,
        ] {
            assert_eq!(rows(success, "dataList").unwrap().len(), 1, "{success}");
        }
    }
}
