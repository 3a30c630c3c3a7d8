//! The registry: subjects, their versions, global ids, compatibility levels.
//!
//! Everything lives in memory (schemas are few and small) behind one lock and is written through
//! to [`SchemaStore`] before a change becomes visible, so a restart loads what clients were told.
//! Produce takes an [`Arc<SubjectView>`] per subject (rebuilt when the subject changes), so
//! checking records never waits for a registration.
//!
//! Confluent's rules: the same schema (same type and [`normal_form`]) has one global id across
//! subjects; registering a schema a subject already holds as a live version answers that version;
//! versions only grow (a soft-deleted version's number is never reused); a compatibility check
//! runs against the latest live version, or every live version for the `_TRANSITIVE` levels.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use redb::Database;
use wharf_proto::api::SchemaValidation;

use super::store::{GLOBAL, SchemaStore};
use super::{
    Compatibility, Compiled, MAX_SUBJECT_LEN, RegisteredSchema, SchemaError, SchemaType,
    SubjectSide, TopicCheck, compat, normal_form, subject_name,
};

/// A version named in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRef {
    Latest,
    Number(u32),
}

impl VersionRef {
    /// `latest`, `-1` (Confluent's alias) or a positive number.
    pub fn parse(text: &str) -> Result<Self, SchemaError> {
        match text {
            "latest" | "-1" => Ok(Self::Latest),
            _ => match text.parse::<u32>() {
                Ok(n) if n > 0 => Ok(Self::Number(n)),
                _ => Err(SchemaError::InvalidVersion {
                    version: text.to_owned(),
                }),
            },
        }
    }
}

/// One subject's live versions as produce checks them.
#[derive(Debug, Default)]
pub struct SubjectView {
    pub subject: String,
    /// `(id, version)` of the latest live version.
    pub latest: Option<(u32, u32)>,
    /// In version order. Looked up from the end: records name the latest version far more
    /// often than older ones, and a subject has few live versions, so this beats hashing.
    live: Vec<LiveVersion>,
}

#[derive(Debug)]
struct LiveVersion {
    id: u32,
    version: u32,
    compiled: Option<Arc<Compiled>>,
    /// The id as decimal text, the value of an accepted record's `wharf-schema-id` header:
    /// rendered once, shared by every record that carries it.
    id_text: Bytes,
}

impl SubjectView {
    fn find(&self, id: u32) -> Option<&LiveVersion> {
        self.live.iter().rev().find(|v| v.id == id)
    }

    /// The live version holding schema `id`, if any.
    pub fn version_of(&self, id: u32) -> Option<u32> {
        self.find(id).map(|v| v.version)
    }

    pub fn compiled(&self, id: u32) -> Option<&Compiled> {
        self.find(id)?.compiled.as_deref()
    }

    /// Schema `id` as the decimal text of a `wharf-schema-id` header, when it is live here.
    pub fn id_text(&self, id: u32) -> Option<Bytes> {
        self.find(id).map(|v| v.id_text.clone())
    }
}

/// A retained record's value, checked against a new JSON Schema before it is registered.
#[derive(Debug)]
pub struct Sample {
    /// Where it was read (`partition 0 offset 12`), for the error message.
    pub place: String,
    pub value: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    /// Versions of each subject, in version order.
    subjects: BTreeMap<String, Vec<RegisteredSchema>>,
    compiled: HashMap<u32, Arc<Compiled>>,
    /// `(type, normal form)` → id.
    ids: HashMap<(SchemaType, String), u32>,
    /// id → a version holding it (type and text).
    texts: HashMap<u32, (SchemaType, String)>,
    next_id: u32,
    /// Subject → level; [`GLOBAL`] is the global one.
    levels: HashMap<String, Compatibility>,
    views: HashMap<String, Arc<SubjectView>>,
}

impl State {
    fn add(&mut self, schema: RegisteredSchema, compiled: Arc<Compiled>, normal: String) {
        self.ids.insert((schema.schema_type, normal), schema.id);
        self.texts
            .entry(schema.id)
            .or_insert_with(|| (schema.schema_type, schema.schema.clone()));
        self.compiled.insert(schema.id, compiled);
        self.next_id = self.next_id.max(schema.id + 1);
        let subject = schema.subject.clone();
        self.subjects.entry(subject).or_default().push(schema);
    }

    fn rebuild_view(&mut self, subject: &str) {
        let mut view = SubjectView {
            subject: subject.to_owned(),
            ..SubjectView::default()
        };
        for s in self.subjects.get(subject).into_iter().flatten() {
            if s.deleted {
                continue;
            }
            view.latest = Some((s.id, s.version));
            view.live.push(LiveVersion {
                id: s.id,
                version: s.version,
                compiled: self.compiled.get(&s.id).cloned(),
                id_text: Bytes::from(s.id.to_string()),
            });
        }
        self.views.insert(subject.to_owned(), Arc::new(view));
    }

    fn live(&self, subject: &str) -> Result<Vec<&RegisteredSchema>, SchemaError> {
        let versions = self
            .subjects
            .get(subject)
            .ok_or_else(|| not_found(subject))?;
        let live: Vec<_> = versions.iter().filter(|s| !s.deleted).collect();
        if live.is_empty() {
            return Err(not_found(subject));
        }
        Ok(live)
    }

    fn find(
        &self,
        subject: &str,
        version: VersionRef,
        include_deleted: bool,
    ) -> Result<&RegisteredSchema, SchemaError> {
        let versions = self
            .subjects
            .get(subject)
            .ok_or_else(|| not_found(subject))?;
        let mut candidates = versions.iter().filter(|s| include_deleted || !s.deleted);
        let found = match version {
            VersionRef::Latest => candidates.next_back(),
            VersionRef::Number(n) => candidates.find(|s| s.version == n),
        };
        found.ok_or_else(|| {
            if versions.iter().all(|s| s.deleted) && !include_deleted {
                not_found(subject)
            } else {
                SchemaError::VersionNotFound {
                    subject: subject.to_owned(),
                    version: match version {
                        VersionRef::Latest => "latest".to_owned(),
                        VersionRef::Number(n) => n.to_string(),
                    },
                }
            }
        })
    }

    fn level(&self, subject: &str) -> Compatibility {
        self.levels
            .get(subject)
            .or_else(|| self.levels.get(GLOBAL))
            .copied()
            .unwrap_or_default()
    }
}

fn not_found(subject: &str) -> SchemaError {
    SchemaError::SubjectNotFound {
        subject: subject.to_owned(),
    }
}

/// Subjects are topic names with `-key` / `-value`, or other names of the same characters.
pub fn validate_subject(subject: &str) -> Result<(), SchemaError> {
    let invalid = |reason: &str| {
        Err(SchemaError::InvalidSubject {
            subject: subject.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if subject.is_empty() || subject.len() > MAX_SUBJECT_LEN {
        return invalid("must be 1 to 255 characters");
    }
    if !subject
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
    {
        return invalid("may contain only ASCII letters, digits, '.', '_', '-' and ':'");
    }
    Ok(())
}

/// The schema registry.
#[derive(Debug)]
pub struct Registry {
    store: SchemaStore,
    state: RwLock<State>,
}

impl Registry {
    /// Opens the registry's tables in `db` and loads (and compiles) every schema.
    pub fn open(db: Arc<Database>) -> Result<Self, SchemaError> {
        let store = SchemaStore::open(db)?;
        let (schemas, levels) = store.load()?;
        let mut state = State {
            next_id: 1,
            levels: levels.into_iter().collect(),
            ..State::default()
        };
        for schema in schemas {
            let compiled = match state.compiled.get(&schema.id) {
                Some(c) => Arc::clone(c),
                None => Arc::new(
                    Compiled::compile(schema.schema_type, &schema.schema).map_err(|e| {
                        SchemaError::Corruption {
                            key: format!("{}/{}", schema.subject, schema.version),
                            detail: e.to_string(),
                        }
                    })?,
                ),
            };
            let normal = normal_form(&schema.schema)?;
            state.add(schema, compiled, normal);
        }
        let subjects: Vec<String> = state.subjects.keys().cloned().collect();
        for subject in subjects {
            state.rebuild_view(&subject);
        }
        Ok(Self {
            store,
            state: RwLock::new(state),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().expect("schema registry lock")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().expect("schema registry lock")
    }

    /// Subjects with a live version (or any version with `include_deleted`), sorted.
    pub fn subjects(&self, include_deleted: bool) -> Vec<String> {
        self.read()
            .subjects
            .iter()
            .filter(|(_, v)| include_deleted || v.iter().any(|s| !s.deleted))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// A subject's version numbers.
    pub fn versions(&self, subject: &str, include_deleted: bool) -> Result<Vec<u32>, SchemaError> {
        let state = self.read();
        if include_deleted {
            let all = state
                .subjects
                .get(subject)
                .ok_or_else(|| not_found(subject))?;
            return Ok(all.iter().map(|s| s.version).collect());
        }
        Ok(state.live(subject)?.iter().map(|s| s.version).collect())
    }

    pub fn get(
        &self,
        subject: &str,
        version: VersionRef,
        include_deleted: bool,
    ) -> Result<RegisteredSchema, SchemaError> {
        self.read().find(subject, version, include_deleted).cloned()
    }

    /// The type and text of schema `id`.
    pub fn by_id(&self, id: u32) -> Result<(SchemaType, String), SchemaError> {
        self.read()
            .texts
            .get(&id)
            .cloned()
            .ok_or_else(|| SchemaError::SchemaNotFound { id: id.to_string() })
    }

    /// `(subject, version)` of every version holding schema `id`.
    pub fn versions_of_id(&self, id: u32) -> Vec<(String, u32)> {
        self.read()
            .subjects
            .values()
            .flatten()
            .filter(|s| s.id == id && !s.deleted)
            .map(|s| (s.subject.clone(), s.version))
            .collect()
    }

    /// The live version of `subject` holding this schema.
    pub fn lookup(
        &self,
        subject: &str,
        kind: SchemaType,
        text: &str,
    ) -> Result<RegisteredSchema, SchemaError> {
        let normal = normal_form(text)?;
        let state = self.read();
        let live = state.live(subject)?;
        let id = state.ids.get(&(kind, normal)).copied();
        live.into_iter()
            .rev()
            .find(|s| Some(s.id) == id)
            .cloned()
            .ok_or_else(|| SchemaError::SchemaNotFound {
                id: format!("(this schema under subject {subject})"),
            })
    }

    /// Registers a schema under `subject` after the compatibility check; answers the new
    /// version, or the existing live version holding the same schema. A JSON Schema must also
    /// accept the `samples` (retained records of the subject's topic) under a backward level.
    pub fn register(
        &self,
        subject: &str,
        kind: SchemaType,
        text: &str,
        samples: &[Sample],
    ) -> Result<RegisteredSchema, SchemaError> {
        validate_subject(subject)?;
        let compiled = Arc::new(Compiled::compile(kind, text)?);
        let normal = normal_form(text)?;
        // Held for the whole registration: two registrations of one subject must not both
        // take the next version number.
        let mut state = self.write();
        let existing_id = state.ids.get(&(kind, normal.clone())).copied();
        if let Some(versions) = state.subjects.get(subject)
            && let Some(same) = versions
                .iter()
                .rev()
                .find(|s| !s.deleted && Some(s.id) == existing_id)
        {
            return Ok(same.clone());
        }
        let level = state.level(subject);
        let reasons = check_against(&state, subject, level, kind, text, None)?;
        if !reasons.is_empty() {
            return Err(SchemaError::Incompatible {
                level: level.as_str(),
                against: format!("subject {subject}"),
                reasons,
            });
        }
        if level.backward() && kind == SchemaType::Json {
            let refused = check_samples(&compiled, samples);
            if !refused.is_empty() {
                return Err(SchemaError::Incompatible {
                    level: level.as_str(),
                    against: format!("retained records of subject {subject}"),
                    reasons: refused,
                });
            }
        }
        let version = state
            .subjects
            .get(subject)
            .and_then(|v| v.last())
            .map_or(1, |s| s.version + 1);
        let schema = RegisteredSchema {
            subject: subject.to_owned(),
            version,
            id: existing_id.unwrap_or(state.next_id),
            schema_type: kind,
            schema: text.to_owned(),
            deleted: false,
        };
        self.store.put_versions(&[&schema])?;
        let compiled = match existing_id.and_then(|id| state.compiled.get(&id)) {
            Some(c) => Arc::clone(c),
            None => compiled,
        };
        tracing::info!(
            subject,
            version,
            id = schema.id,
            schema_type = kind.as_str(),
            "registered schema"
        );
        state.add(schema.clone(), compiled, normal);
        state.rebuild_view(subject);
        Ok(schema)
    }

    /// Why `text` would not be compatible with `version` of `subject` under the subject's
    /// level (empty: compatible). With [`VersionRef::Latest`] and a transitive level, every
    /// live version is checked.
    pub fn test_compatibility(
        &self,
        subject: &str,
        version: VersionRef,
        kind: SchemaType,
        text: &str,
    ) -> Result<Vec<String>, SchemaError> {
        Compiled::compile(kind, text)?;
        let state = self.read();
        let against = match version {
            VersionRef::Latest => None,
            VersionRef::Number(_) => Some(state.find(subject, version, false)?.version),
        };
        if version == VersionRef::Latest {
            state.live(subject)?;
        }
        let level = state.level(subject);
        check_against(&state, subject, level, kind, text, against)
    }

    /// The level set on `subject` (or the global one for `None`), if any.
    pub fn level(&self, subject: Option<&str>) -> Option<Compatibility> {
        self.read().levels.get(subject.unwrap_or(GLOBAL)).copied()
    }

    /// The level registrations of `subject` are checked under (its own, else the global one).
    pub fn effective_level(&self, subject: &str) -> Compatibility {
        self.read().level(subject)
    }

    /// Sets the level of `subject` (the global one for `None`).
    pub fn set_level(
        &self,
        subject: Option<&str>,
        level: Compatibility,
    ) -> Result<(), SchemaError> {
        if let Some(subject) = subject {
            validate_subject(subject)?;
        }
        let key = subject.unwrap_or(GLOBAL);
        let mut state = self.write();
        self.store.put_level(key, Some(level))?;
        state.levels.insert(key.to_owned(), level);
        Ok(())
    }

    /// Soft-deletes one version; answers its number.
    pub fn delete_version(&self, subject: &str, version: VersionRef) -> Result<u32, SchemaError> {
        let mut state = self.write();
        let mut doomed = state.find(subject, version, false)?.clone();
        doomed.deleted = true;
        self.store.put_versions(&[&doomed])?;
        let number = doomed.version;
        if let Some(s) = state
            .subjects
            .get_mut(subject)
            .and_then(|v| v.iter_mut().find(|s| s.version == number))
        {
            s.deleted = true;
        }
        state.rebuild_view(subject);
        tracing::info!(subject, version = number, "soft-deleted schema version");
        Ok(number)
    }

    /// Soft-deletes every live version of a subject; answers their numbers.
    pub fn delete_subject(&self, subject: &str) -> Result<Vec<u32>, SchemaError> {
        let mut state = self.write();
        let doomed: Vec<RegisteredSchema> = state
            .live(subject)?
            .into_iter()
            .map(|s| RegisteredSchema {
                deleted: true,
                ..s.clone()
            })
            .collect();
        self.store
            .put_versions(&doomed.iter().collect::<Vec<_>>())?;
        for s in state.subjects.get_mut(subject).into_iter().flatten() {
            s.deleted = true;
        }
        state.rebuild_view(subject);
        Ok(doomed.iter().map(|s| s.version).collect())
    }

    /// The live versions of `subject` for produce checks (empty when it has none).
    pub fn view(&self, subject: &str) -> Option<Arc<SubjectView>> {
        self.read().views.get(subject).cloned()
    }

    /// What records of `topic` are checked against under `mode`; `None` when nothing is.
    pub fn check_for(&self, topic: &str, mode: SchemaValidation) -> Option<TopicCheck> {
        if mode == SchemaValidation::None {
            return None;
        }
        let value_subject = subject_name(topic, SubjectSide::Value);
        Some(TopicCheck {
            mode,
            value: self.view(&value_subject),
            key: self.view(&subject_name(topic, SubjectSide::Key)),
            value_subject,
        })
    }
}

/// Incompatibilities of a new schema with the subject's live versions under `level`: the latest
/// (or `only`), or all of them for transitive levels.
fn check_against(
    state: &State,
    subject: &str,
    level: Compatibility,
    kind: SchemaType,
    text: &str,
    only: Option<u32>,
) -> Result<Vec<String>, SchemaError> {
    if level == Compatibility::None {
        return Ok(Vec::new());
    }
    let Ok(live) = state.live(subject) else {
        return Ok(Vec::new());
    };
    let against: Vec<&RegisteredSchema> = match only {
        Some(version) => live.into_iter().filter(|s| s.version == version).collect(),
        None if level.transitive() => live,
        None => live.last().copied().into_iter().collect(),
    };
    let mut out = Vec::new();
    for old in against {
        if old.schema_type != kind {
            out.push(format!(
                "version {} is {}, the new schema {}",
                old.version,
                old.schema_type.as_str(),
                kind.as_str()
            ));
            continue;
        }
        if level.backward() {
            for why in compat::reasons(kind, text, &old.schema)? {
                out.push(format!(
                    "cannot read data of version {}: {why}",
                    old.version
                ));
            }
        }
        if level.forward() {
            for why in compat::reasons(kind, &old.schema, text)? {
                out.push(format!(
                    "version {} cannot read its data: {why}",
                    old.version
                ));
            }
        }
    }
    Ok(out)
}

/// Retained values the new JSON Schema refuses. Wire-format values (magic byte 0) are checked
/// on their payload; values that are not JSON are not this schema's business.
fn check_samples(compiled: &Compiled, samples: &[Sample]) -> Vec<String> {
    samples
        .iter()
        .filter_map(|sample| {
            let payload = match sample.value.as_slice() {
                [0, _, _, _, _, rest @ ..] => rest,
                other => other,
            };
            let document: serde_json::Value = serde_json::from_slice(payload).ok()?;
            compiled.check_json(&document).err().map(|(pointer, why)| {
                format!(
                    "retained record at {} fails at {pointer:?}: {why}",
                    sample.place
                )
            })
        })
        .take(5)
        .collect()
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
