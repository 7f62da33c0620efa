//! What an exchange's ending means: the one severity model the listing,
//! every view of the terminal UI, the statistics and the findings use.
//!
//! [`Status`] is the wire's fact (answered, with an error code somewhere, or
//! not); [`Outcome`] is what it means to whoever reads the traffic. The
//! difference is the protocol's *expected answers*: an error code that is
//! the designed first step of a negotiation, which the client answers with
//! the request Kafka asks for, is neither a failure nor a retry:
//!
//! * ApiVersions answered UNSUPPORTED_VERSION (KIP-35, KIP-511): a broker
//!   that does not know the client's ApiVersions version answers in the v0
//!   layout with its own range, and the client asks again at a version it
//!   supports;
//! * JoinGroup v4+ answered MEMBER_ID_REQUIRED (KIP-394): a new member is
//!   given its member id and joins again with it.
//!
//! Below JoinGroup v4, MEMBER_ID_REQUIRED is not the protocol's (a
//! deviation: see the conformance findings) and is an error here. Whether
//! the client then did what was asked (retried, rejoined) is the findings'
//! business (`apiversions_loop`, `retry_loop`): one exchange cannot tell.

use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;

use super::record::Status;

/// How an exchange ended, quietest first: the order is how loud a view
/// makes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Answered without error (or no response expected: Produce acks=0).
    Ok,
    /// An expected answer of the protocol's negotiation (see the module
    /// doc): not an error.
    Negotiation,
    /// Answered without error, throttled by a quota.
    Throttled,
    /// Errors that the client retries (Kafka's retriable codes, and
    /// REBALANCE_IN_PROGRESS: the coordinator asking members to rejoin).
    Retriable,
    /// Not answered: given up on.
    Unanswered,
    /// An error the client does not retry: the application sees it.
    Fatal,
    /// A response that does not decode ([`Status::Malformed`]).
    Malformed,
}

/// Whether a client retries after error `code`: Kafka's retriable codes,
/// and REBALANCE_IN_PROGRESS (the coordinator asking members to rejoin).
/// Every view says such an error with the retriable glyph (`↻`), the others
/// with the fatal one (`✗`).
pub fn retried(code: ErrorCode) -> bool {
    code.is_retriable() || code == ErrorCode::REBALANCE_IN_PROGRESS
}

impl Outcome {
    /// Of an exchange of `api` at `version` that ended with `status`, the
    /// response carrying the error `codes` (zeros ignored) and, when
    /// `throttled`, a non-zero throttle time.
    pub fn of(
        api: ApiKey,
        version: i16,
        status: Status,
        codes: &[i16],
        throttled: bool,
    ) -> Outcome {
        match status {
            Status::NoResponse(_) => Outcome::Unanswered,
            Status::NoResponseExpected => Outcome::Ok,
            Status::Malformed => Outcome::Malformed,
            Status::Ok | Status::Error => {
                let mut errs = codes.iter().copied().filter(|&c| c != 0).peekable();
                if errs.peek().is_none() {
                    return if throttled {
                        Outcome::Throttled
                    } else {
                        Outcome::Ok
                    };
                }
                let errs: Vec<i16> = errs.collect();
                if errs
                    .iter()
                    .all(|&c| expected_answer(api, version, ErrorCode(c)))
                {
                    Outcome::Negotiation
                } else if errs.iter().all(|&c| {
                    let c = ErrorCode(c);
                    retried(c) || expected_answer(api, version, c)
                }) {
                    Outcome::Retriable
                } else {
                    Outcome::Fatal
                }
            }
        }
    }

    /// A failure a reader looks for (what `n` jumps to and `err` filters):
    /// retriable and fatal errors, requests left unanswered and responses
    /// that do not decode.
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            Outcome::Retriable | Outcome::Unanswered | Outcome::Fatal | Outcome::Malformed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Negotiation => "negotiation",
            Outcome::Throttled => "throttled",
            Outcome::Retriable => "retriable",
            Outcome::Unanswered => "unanswered",
            Outcome::Fatal => "fatal",
            Outcome::Malformed => "malformed",
        }
    }
}

impl super::record::Exchange {
    /// Whether the response's errors are all a negotiation's expected
    /// answers ([`Outcome::Negotiation`]).
    pub fn negotiation(&self) -> bool {
        self.status == Status::Error
            && !self.errors.is_empty()
            && self
                .errors
                .iter()
                .all(|r| expected_answer(self.api_key, self.api_version, ErrorCode(r.code)))
    }
}

/// Whether `code` answering `api` at `version` is the designed first step
/// of a negotiation (see the module doc).
pub fn expected_answer(api: ApiKey, version: i16, code: ErrorCode) -> bool {
    match api {
        ApiKey::API_VERSIONS => code == ErrorCode::UNSUPPORTED_VERSION,
        ApiKey::JOIN_GROUP => code == ErrorCode::MEMBER_ID_REQUIRED && version >= 4,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::NoResponseReason;

    const UV: i16 = ErrorCode::UNSUPPORTED_VERSION.0;
    const MIR: i16 = ErrorCode::MEMBER_ID_REQUIRED.0;

    #[test]
    fn negotiation_is_not_an_error() {
        let o = |api, v, codes: &[i16]| Outcome::of(api, v, Status::Error, codes, false);
        assert_eq!(o(ApiKey::API_VERSIONS, 3, &[UV]), Outcome::Negotiation);
        assert_eq!(o(ApiKey::JOIN_GROUP, 5, &[MIR]), Outcome::Negotiation);
        // Before JoinGroup v4 the code is not the protocol's.
        assert_eq!(o(ApiKey::JOIN_GROUP, 1, &[MIR]), Outcome::Fatal);
        // UNSUPPORTED_VERSION elsewhere is a failure.
        assert_eq!(o(ApiKey::PRODUCE, 9, &[UV]), Outcome::Fatal);
        assert!(!Outcome::Negotiation.is_problem());
    }

    #[test]
    fn the_rest_of_the_model() {
        let o = |s, codes: &[i16], thr| Outcome::of(ApiKey::FETCH, 12, s, codes, thr);
        assert_eq!(o(Status::Ok, &[], false), Outcome::Ok);
        assert_eq!(o(Status::Ok, &[0, 0], true), Outcome::Throttled);
        assert_eq!(o(Status::Error, &[6], false), Outcome::Retriable);
        assert_eq!(o(Status::Error, &[27], false), Outcome::Retriable);
        assert_eq!(o(Status::Error, &[6, 1], false), Outcome::Fatal);
        let lost = Status::NoResponse(NoResponseReason::ConnectionClosed);
        assert_eq!(o(lost, &[], false), Outcome::Unanswered);
        assert_eq!(o(Status::NoResponseExpected, &[], false), Outcome::Ok);
        assert!(Outcome::Unanswered.is_problem() && Outcome::Fatal.is_problem());
    }
}
