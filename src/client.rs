//! What an internal service embeds to submit events: commit private values, sign, and build
//! the submission. (The HTTP transport is the servers' issue.)

use vigil_core::event::Event;
use vigil_core::keys::SignerKey;
use vigil_core::statement::{ParsedSubmission, Statement, StatementError, Submission};

/// Commits the event's private values with fresh random salts, signs the statement, and
/// returns the submission with its openings.
pub fn sign_event(
    key: &SignerKey,
    mut event: Event,
    idempotency_key: &str,
    created_at_ms: u64,
) -> Result<Submission, StatementError> {
    let openings = event.commit_private(rand::random::<[u8; 32]>);
    let st = Statement { key: key.key_ref.clone(), idempotency_key: idempotency_key.into(), created_at_ms, event };
    Submission::sign(key, &st, openings)
}

/// [`sign_event`], parsed for in-process appends.
pub fn signed(
    key: &SignerKey,
    event: Event,
    idempotency_key: &str,
    created_at_ms: u64,
) -> Result<ParsedSubmission, StatementError> {
    sign_event(key, event, idempotency_key, created_at_ms)?.parse()
}
