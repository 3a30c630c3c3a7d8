//! The topic page's schema card: the topic's `schema_validation` setting and, for its two
//! TopicNameStrategy subjects (`<topic>-value`, `<topic>-key`), the latest live version, its
//! schema id and type, every live version, and the compatibility level registrations are checked
//! under (the subject's own or the registry-wide one). Read from the registry's in-memory state,
//! as produce validation reads it; nothing here changes a schema (that is the `/schemas/` API).

use maud::{Markup, html};
use wharf_proto::api::SchemaValidation;

use crate::schema::registry::VersionRef;
use crate::schema::{Registry, SubjectSide, subject_name};
use crate::topic::Topic;

/// What `schema_validation` means, for the card.
fn validation_text(mode: SchemaValidation) -> (&'static str, &'static str) {
    match mode {
        SchemaValidation::None => ("none", "values are not checked"),
        SchemaValidation::Json => (
            "json",
            "JSON values must validate against the latest JSON Schema of the value subject",
        ),
        SchemaValidation::Registry => (
            "registry",
            "values must be in Confluent's wire format with a schema id of the value subject",
        ),
    }
}

/// The card for `topic`.
pub fn card(registry: &Registry, topic: &Topic) -> Markup {
    let mode = topic.describe(false).schema_validation;
    let (mode_name, mode_text) = validation_text(mode);
    html! {
        h2 { "Schema" }
        section.card id="schema" {
            p { "Validation on produce: " code { (mode_name) } span.muted { " (" (mode_text) ")" } }
            div.scroll { table {
                thead { tr {
                    th scope="col" { "Subject" } th.num scope="col" { "Latest version" }
                    th.num scope="col" { "Schema id" } th scope="col" { "Type" }
                    th scope="col" { "Versions" } th scope="col" { "Compatibility" }
                } }
                tbody {
                    @for side in [SubjectSide::Value, SubjectSide::Key] {
                        @let subject = subject_name(&topic.name, side);
                        @let level = registry.effective_level(&subject);
                        @let own = registry.level(Some(&subject)).is_some();
                        tr {
                            td.mono { (subject) }
                            @match registry.get(&subject, VersionRef::Latest, false) {
                                Ok(latest) => {
                                    td.num { a href={"/schemas/subjects/" (subject) "/versions/latest"} { (latest.version) } }
                                    td.num { (latest.id) }
                                    td { (latest.schema_type.as_str()) }
                                    td { (registry.versions(&subject, false).unwrap_or_default().iter().map(u32::to_string).collect::<Vec<_>>().join(", ")) }
                                }
                                Err(_) => {
                                    td.muted colspan="4" { "not registered" }
                                }
                            }
                            td { (level.as_str()) @if !own { span.muted { " (registry default)" } } }
                        }
                    }
                }
            } }
        }
    }
}
