//! Faults the simulator serves on demand: what each one is, when it fires (every k-th call, the next n calls,
//! or always), and the text form the `zenlayer-sim --fault` flag and the control endpoint accept.

use serde::{Deserialize, Serialize};

/// One fault. Those marked "instead" replace the answer; the others alter a normal answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// Instead: HTTP 429 `REQUEST_LIMIT_EXCEEDED`, with `Retry-After` when given.
    Throttle {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    /// Instead: a 5xx error envelope (by default 500 `INTERNAL_SERVER_ERROR`).
    ServerError {
        #[serde(default = "default_server_status")]
        status: u16,
        #[serde(default = "default_server_code")]
        code: String,
    },
    /// Instead: a proxy's HTML error page with this status and no JSON at all.
    HtmlError {
        #[serde(default = "default_html_status")]
        status: u16,
    },
    /// Instead: 401 with the error envelope, as for a revoked access key.
    Unauthorized,
    /// Instead: 403 `AuthFailure.UnauthorizedOperation` (dotted, as some of the vendor's code lists spell codes):
    /// a key that may not read this product, as an account without it would be answered.
    Forbidden,
    /// Instead: a CDN's challenge page, 403 with `cf-mitigated: challenge`: a security policy, not the key.
    Challenge,
    /// Instead: 404 `INVALID_INSTANCE_NOT_FOUND`, as for a look-up of instances deleted since.
    NotFound,
    /// Instead: the connection is closed without an answer.
    Reset,
    /// Instead: headers and the start of a body, then nothing, ever: the client must time out.
    Hang,
    /// Instead: HTTP 200 with only the first half of the answer's JSON.
    Truncated,
    /// Instead: HTTP 200 with a body that is not JSON.
    InvalidJson,
    /// Instead: the real answer with a byte in an instance id that is not UTF-8.
    InvalidUtf8,
    /// Instead: the real answer with a null status and a row without an id.
    NullFields,
    /// Instead: the real answer with a negative `totalCount`.
    NegativeTotal,
    /// Instead: JSON nested this deep (arrays in arrays).
    DeepNesting {
        #[serde(default = "default_depth")]
        depth: usize,
    },
    /// Instead: HTTP 200 and a body of this many megabytes, streamed without a Content-Length.
    HugeBody {
        #[serde(default = "default_megabytes")]
        megabytes: usize,
    },
    /// Instead: the real answer, one byte every 50 ms.
    Trickle,
    /// Alters: the answer's `totalCount` is this value instead of the truth.
    WrongTotal { total_count: u64 },
    /// After the answer: a new instance appears at the head of the listing, so every row moves down a place,
    /// the next page repeats this page's last row and `totalCount` grows between the two.
    DuplicateRows,
    /// Alters: `pageNum` is ignored, every page is the first, as an API (or a proxy caching by body) that does not
    /// page would answer.
    IgnorePageNum,
    /// After the answer: the first-listed instance is released at once, so every later row moves up a place,
    /// the next page skips one row and `totalCount` drops between the two.
    ShiftAfterPage,
}

fn default_server_status() -> u16 {
    500
}

fn default_server_code() -> String {
    "INTERNAL_SERVER_ERROR".into()
}

fn default_html_status() -> u16 {
    502
}

fn default_depth() -> usize {
    100_000
}

fn default_megabytes() -> usize {
    50
}

impl Fault {
    /// Whether the fault is served instead of the normal answer.
    pub fn replaces_answer(&self) -> bool {
        !matches!(
            self,
            Fault::WrongTotal { .. }
                | Fault::DuplicateRows
                | Fault::ShiftAfterPage
                | Fault::IgnorePageNum
        )
    }
}

/// When a fault fires. With neither bound it fires on every call until removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    #[serde(flatten)]
    pub fault: Fault,
    /// Fire on every k-th call counted since the rule was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Fire this many more times, then the rule goes away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Only calls of this action (`DescribeInstances`, say) count and get the fault; every call when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing)]
    seen: u64,
}

impl FaultRule {
    /// A rule firing `fault` on the next `times` calls.
    pub fn times(fault: Fault, times: u64) -> FaultRule {
        FaultRule {
            fault,
            every: None,
            times: Some(times),
            action: None,
            seen: 0,
        }
    }

    /// A rule firing `fault` on every `k`-th call.
    pub fn every(fault: Fault, every: u64) -> FaultRule {
        FaultRule {
            fault,
            every: Some(every),
            times: None,
            action: None,
            seen: 0,
        }
    }

    /// A rule firing `fault` on every call until removed.
    pub fn always(fault: Fault) -> FaultRule {
        FaultRule {
            fault,
            every: None,
            times: None,
            action: None,
            seen: 0,
        }
    }

    /// The same rule, limited to calls of `action`.
    pub fn on_action(mut self, action: &str) -> FaultRule {
        self.action = Some(action.to_owned());
        self
    }

    /// Counts one call of `action`; true if the rule is due on it.
    fn due(&mut self, action: &str) -> bool {
        if self.action.as_deref().is_some_and(|a| a != action) {
            return false;
        }
        self.seen += 1;
        self.times != Some(0) && !self.every.is_some_and(|k| k == 0 || self.seen % k != 0)
    }

    /// Records one firing: a rule limited to n times is used up by firing, not by being due while another
    /// rule's fault was served.
    fn consume(&mut self) {
        if let Some(n) = &mut self.times {
            *n = n.saturating_sub(1);
        }
    }

    /// Parses `KIND[=VALUE][@every=K|@times=N][@action=ACTION]`, the `zenlayer-sim --fault` form:
    /// `throttle@every=5`, `throttle=2@times=3` (with `Retry-After: 2`), `server-error=503`, `html=502`,
    /// `wrong-total=99`, `reset@action=DescribeInstances`.
    pub fn parse(spec: &str) -> Result<FaultRule, String> {
        let mut segments = spec.split('@');
        let kind = segments.next().unwrap_or_default();
        let (name, value) = match kind.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (kind, None),
        };
        let number = |v: Option<&str>| -> Result<Option<u64>, String> {
            v.map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("{spec:?}: {v:?} is not a whole number"))
            })
            .transpose()
        };
        let status = |v: Option<&str>, default: u16| -> Result<u16, String> {
            number(v)?.map_or(Ok(default), |n| {
                u16::try_from(n).map_err(|_| format!("{spec:?}: bad status"))
            })
        };
        let fault = match name {
            "throttle" => Fault::Throttle {
                retry_after: number(value)?,
            },
            "server-error" => Fault::ServerError {
                status: status(value, 500)?,
                code: match status(value, 500)? {
                    503 => "SERVICE_TEMPORARY_UNAVAILABLE".into(),
                    504 => "REQUEST_TIMED_OUT".into(),
                    _ => "INTERNAL_SERVER_ERROR".into(),
                },
            },
            "html" => Fault::HtmlError {
                status: status(value, 502)?,
            },
            "unauthorized" => Fault::Unauthorized,
            "forbidden" => Fault::Forbidden,
            "challenge" => Fault::Challenge,
            "not-found" => Fault::NotFound,
            "reset" => Fault::Reset,
            "hang" => Fault::Hang,
            "truncated" => Fault::Truncated,
            "invalid-json" => Fault::InvalidJson,
            "invalid-utf8" => Fault::InvalidUtf8,
            "null-fields" => Fault::NullFields,
            "negative-total" => Fault::NegativeTotal,
            "deep-nesting" => Fault::DeepNesting {
                depth: number(value)?.map_or(default_depth(), |n| n as usize),
            },
            "huge-body" => Fault::HugeBody {
                megabytes: number(value)?.map_or(default_megabytes(), |n| n as usize),
            },
            "trickle" => Fault::Trickle,
            "wrong-total" => Fault::WrongTotal {
                total_count: number(value)?.ok_or(format!("{spec:?}: wrong-total needs =N"))?,
            },
            "duplicate-rows" => Fault::DuplicateRows,
            "shift-after-page" => Fault::ShiftAfterPage,
            "ignore-page-num" => Fault::IgnorePageNum,
            other => return Err(format!("{spec:?}: unknown fault {other:?}")),
        };
        let mut rule = FaultRule::always(fault);
        for when in segments {
            match when.split_once('=') {
                Some(("every", k)) => rule.every = number(Some(k))?.filter(|k| *k > 0),
                Some(("times", n)) => rule.times = number(Some(n))?,
                Some(("action", a)) if !a.is_empty() => rule.action = Some(a.to_owned()),
                _ => {
                    return Err(format!(
                        "{spec:?}: after @ comes every=K, times=N or action=ACTION"
                    ));
                }
            }
        }
        Ok(rule)
    }
}

/// The faults a simulator serves, evaluated in order on every call.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    pub rules: Vec<FaultRule>,
}

/// What one call gets: at most one fault instead of the answer, and any number altering it.
#[derive(Debug, Default)]
pub struct Firing {
    pub instead: Option<Fault>,
    pub alter: Vec<Fault>,
}

impl FaultPlan {
    /// Counts one call of `action` against every rule and returns what fires. The first due "instead" rule
    /// wins (the others keep their remaining count); the altering ones all apply.
    pub fn on_call(&mut self, action: &str) -> Firing {
        let mut firing = Firing::default();
        for rule in &mut self.rules {
            if !rule.due(action) {
                continue;
            }
            if !rule.fault.replaces_answer() {
                firing.alter.push(rule.fault.clone());
            } else if firing.instead.is_none() {
                firing.instead = Some(rule.fault.clone());
            } else {
                continue;
            }
            rule.consume();
        }
        self.rules.retain(|r| r.times != Some(0));
        firing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_flag_form() {
        assert_eq!(
            FaultRule::parse("throttle@every=5").unwrap(),
            FaultRule::every(Fault::Throttle { retry_after: None }, 5)
        );
        assert_eq!(
            FaultRule::parse("throttle=2@times=3").unwrap(),
            FaultRule::times(
                Fault::Throttle {
                    retry_after: Some(2)
                },
                3
            )
        );
        assert_eq!(
            FaultRule::parse("server-error=503").unwrap().fault,
            Fault::ServerError {
                status: 503,
                code: "SERVICE_TEMPORARY_UNAVAILABLE".into()
            }
        );
        assert_eq!(
            FaultRule::parse("wrong-total=7").unwrap().fault,
            Fault::WrongTotal { total_count: 7 }
        );
        for bad in [
            "nope",
            "throttle@often",
            "wrong-total",
            "html=x",
            "throttle@every=x",
        ] {
            assert!(FaultRule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_form_round_trips() {
        let rule: FaultRule =
            serde_json::from_str(r#"{"fault":"server_error","status":503,"times":2}"#).unwrap();
        assert_eq!(
            rule.fault,
            Fault::ServerError {
                status: 503,
                code: "INTERNAL_SERVER_ERROR".into()
            }
        );
        assert_eq!(rule.times, Some(2));
        let back: FaultRule = serde_json::from_str(&serde_json::to_string(&rule).unwrap()).unwrap();
        assert_eq!(back, rule);
    }

    #[test]
    fn every_times_and_order() {
        let mut plan = FaultPlan {
            rules: vec![
                FaultRule::every(Fault::Reset, 3),
                FaultRule::times(Fault::Unauthorized, 2),
                FaultRule::always(Fault::DuplicateRows),
            ],
        };
        let got: Vec<Option<Fault>> = (0..6).map(|_| plan.on_call("A").instead).collect();
        assert_eq!(
            got,
            [
                Some(Fault::Unauthorized),
                Some(Fault::Unauthorized),
                Some(Fault::Reset),
                None,
                None,
                Some(Fault::Reset)
            ]
        );
        assert_eq!(plan.rules.len(), 2, "the exhausted rule is gone");
        assert_eq!(plan.on_call("A").alter, [Fault::DuplicateRows]);
    }

    #[test]
    fn rules_limited_to_an_action() {
        let rule = FaultRule::parse("reset@times=2@action=DescribeInstances").unwrap();
        assert_eq!(
            rule,
            FaultRule::times(Fault::Reset, 2).on_action("DescribeInstances")
        );
        let mut plan = FaultPlan { rules: vec![rule] };
        assert_eq!(plan.on_call("DescribeInstancesStatus").instead, None);
        assert_eq!(
            plan.on_call("DescribeInstances").instead,
            Some(Fault::Reset)
        );
        assert_eq!(plan.on_call("DescribeInstancesStatus").instead, None);
        assert_eq!(
            plan.on_call("DescribeInstances").instead,
            Some(Fault::Reset)
        );
        assert!(plan.rules.is_empty());
        assert!(FaultRule::parse("reset@action=").is_err());
    }
}
