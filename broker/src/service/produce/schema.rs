//! The schema step of produce: each validated record's key and value are checked against the
//! topic's subjects ([`crate::schema::TopicCheck`]) before the claim check runs, so a large
//! invalid value never reaches the blob store. A record that fails is refused alone
//! (`schema_violation`); an accepted one carries the id of the schema its value matched in
//! `wharf-schema-id` (and its key's in `wharf-key-schema-id`), replacing any such header the
//! producer sent.

use crate::schema::{KEY_SCHEMA_ID_HEADER, SCHEMA_ID_HEADER, TopicCheck};
use crate::storage::{Bytes, Header};

use super::record::{Prepared, RecordError};

/// Checks one prepared record; without a check (the topic does not validate) it passes as is.
pub(super) fn apply(
    check: Option<&TopicCheck>,
    prepared: Result<Prepared, RecordError>,
) -> Result<Prepared, RecordError> {
    match (check, prepared) {
        (Some(check), Ok(prepared)) => check_record(check, prepared),
        (_, other) => other,
    }
}

fn check_record(check: &TopicCheck, mut prepared: Prepared) -> Result<Prepared, RecordError> {
    let record = &mut prepared.record;
    let named = record
        .headers
        .iter()
        .find(|h| h.key == SCHEMA_ID_HEADER)
        .map(|h| h.value.clone());
    let value_id = match prepared.value_schema_id {
        // The parse already checked the value against this schema.
        Some(id) => Some(id),
        None => check
            .check_value(&record.value, record.value_is_json, named.as_deref())
            .map_err(RecordError::SchemaViolation)?,
    };
    let key_id = check
        .check_key(record.key.as_deref())
        .map_err(RecordError::SchemaViolation)?;
    if !record.headers.is_empty() {
        record
            .headers
            .retain(|h| h.key != SCHEMA_ID_HEADER && h.key != KEY_SCHEMA_ID_HEADER);
    }
    let ids = [
        (SCHEMA_ID_HEADER, value_id, check.value.as_deref()),
        (KEY_SCHEMA_ID_HEADER, key_id, check.key.as_deref()),
    ];
    // Exactly the room needed: most records carry no headers of their own.
    record
        .headers
        .reserve_exact(ids.iter().filter(|(_, id, _)| id.is_some()).count());
    for (name, id, view) in ids {
        if let Some(id) = id {
            let value = view
                .and_then(|v| v.id_text(id))
                .unwrap_or_else(|| Bytes::from(id.to_string()));
            record.headers.push(Header {
                key: name.to_owned(),
                value,
            });
        }
    }
    Ok(prepared)
}
