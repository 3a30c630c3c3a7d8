//! The schema registry over HTTP: the subset of Confluent Schema Registry's REST API its
//! clients use, under the prefix `/schemas` (a client's registry URL is
//! `http://<broker>/schemas`). Bodies and answers are `application/vnd.schemaregistry.v1+json`;
//! errors carry Confluent's `error_code` ([`RegistryApiError`]).
//!
//! Rights as for topics, on the subject's topic (`orders-value` → `orders`): reading needs any
//! right on it, registering, deleting and setting its level `admin`; the global level `admin`
//! on every topic (`*`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use wharf_proto::ErrorCode;

use super::error::{ApiError, RegistryApiError, SCHEMA_REGISTRY_JSON};
use super::extract::{P, Q, json_body};
use crate::auth::Caller;
use crate::config::Action;
use crate::schema::registry::{VersionRef, validate_subject};
use crate::schema::{Compatibility, RegisteredSchema, SchemaError, SchemaType, subject_topic};
use crate::service::schemas::{blocking, register as register_schema};
use crate::state::Broker;

/// Largest schema body.
const SCHEMA_BODY_LIMIT_BYTES: u64 = 1 << 20;

type Answer = Result<Response, RegistryApiError>;

/// The registry's routes, to be merged into the main router.
pub fn routes() -> Router<Arc<Broker>> {
    Router::new()
        .route("/schemas/subjects", get(list_subjects))
        .route(
            "/schemas/subjects/{subject}",
            post(lookup).delete(delete_subject),
        )
        .route(
            "/schemas/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route(
            "/schemas/subjects/{subject}/versions/{version}",
            get(get_version).delete(delete_version),
        )
        .route(
            "/schemas/subjects/{subject}/versions/{version}/schema",
            get(get_version_text),
        )
        .route("/schemas/schemas/ids/{id}", get(get_by_id))
        .route("/schemas/schemas/ids/{id}/versions", get(get_id_versions))
        .route(
            "/schemas/config",
            get(get_global_level).put(put_global_level),
        )
        .route(
            "/schemas/config/{subject}",
            get(get_subject_level).put(put_subject_level),
        )
        .route(
            "/schemas/compatibility/subjects/{subject}/versions/{version}",
            post(test_compatibility),
        )
}

fn answer(value: Value) -> Answer {
    Ok((
        [(axum::http::header::CONTENT_TYPE, SCHEMA_REGISTRY_JSON)],
        value.to_string(),
    )
        .into_response())
}

fn caller(broker: &Broker, headers: &HeaderMap) -> Result<Caller, RegistryApiError> {
    Ok(super::auth::authenticate(broker, headers)?)
}

/// Any right on the subject's topic.
fn may_read(broker: &Broker, headers: &HeaderMap, subject: &str) -> Result<(), RegistryApiError> {
    let caller = caller(broker, headers)?;
    let topic = subject_topic(subject);
    if !caller.sees(topic) {
        caller.require(Action::Consume, topic)?;
    }
    Ok(validate_subject(subject)?)
}

fn may_admin(broker: &Broker, headers: &HeaderMap, subject: &str) -> Result<(), RegistryApiError> {
    super::auth::authorize(broker, headers, Action::Admin, subject_topic(subject))?;
    Ok(validate_subject(subject)?)
}

fn describe(s: &RegisteredSchema) -> Value {
    json!({
        "subject": s.subject,
        "version": s.version,
        "id": s.id,
        "schemaType": s.schema_type.as_str(),
        "schema": s.schema,
    })
}

/// A boolean query flag as clients spell it: `true` or `false` in any case (Python's client
/// sends `True`); anything else is refused, so a typo is not read as `false`.
fn flag(name: &str, text: Option<&str>) -> Result<bool, ApiError> {
    match text {
        None => Ok(false),
        Some(t) if t.eq_ignore_ascii_case("true") => Ok(true),
        Some(t) if t.eq_ignore_ascii_case("false") => Ok(false),
        Some(t) => Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            format!("{name} must be true or false, got {t:?}"),
        )),
    }
}

/// The query of the registry's listings and version reads, with the parameters Confluent's
/// clients send (`confluent-kafka` sends `deleted`, `deleted_only`, `offset` and `limit` on
/// every listing).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct DeletedQuery {
    /// Include soft-deleted subjects or versions.
    #[param(value_type = Option<bool>)]
    #[serde(default)]
    deleted: Option<String>,
    /// Listings: only soft-deleted subjects (every version deleted) or versions.
    #[param(value_type = Option<bool>)]
    #[serde(default, alias = "deletedOnly")]
    deleted_only: Option<String>,
    /// `GET /subjects`: only subjects whose name starts with this.
    #[serde(default, rename = "subjectPrefix")]
    subject_prefix: Option<String>,
    /// Listings: skip this many entries.
    #[param(minimum = 0)]
    #[serde(default)]
    offset: Option<i64>,
    /// Listings: at most this many entries; -1 (the default) is all.
    #[param(minimum = -1)]
    #[serde(default)]
    limit: Option<i64>,
    /// Accepted for Confluent's clients; a schema is always answered as registered.
    // Read by serde only, so that the parameter is known rather than refused.
    #[allow(dead_code)]
    #[serde(default)]
    format: Option<String>,
}

impl DeletedQuery {
    fn deleted(&self) -> Result<bool, ApiError> {
        flag("deleted", self.deleted.as_deref())
    }

    fn deleted_only(&self) -> Result<bool, ApiError> {
        flag("deleted_only", self.deleted_only.as_deref())
    }

    /// A listing as asked: `all` (deleted included) and `live`, then the page.
    fn list<T: PartialEq>(&self, all: Vec<T>, live: Vec<T>) -> Result<Vec<T>, ApiError> {
        // Both flags are read, so that a malformed one is refused whatever the other says.
        let (deleted, deleted_only) = (self.deleted()?, self.deleted_only()?);
        let listed: Vec<T> = if deleted_only {
            all.into_iter().filter(|x| !live.contains(x)).collect()
        } else if deleted {
            all
        } else {
            live
        };
        let limit = match self.limit {
            None | Some(-1) => usize::MAX,
            Some(n) => usize::try_from(n).map_err(|_| {
                ApiError::bad_request(
                    ErrorCode::InvalidQuery,
                    format!("limit must be -1 (all) or at least 0, got {n}"),
                )
            })?,
        };
        let offset = usize::try_from(self.offset.unwrap_or(0)).map_err(|_| {
            ApiError::bad_request(
                ErrorCode::InvalidQuery,
                "offset must be at least 0".to_string(),
            )
        })?;
        Ok(listed.into_iter().skip(offset).take(limit).collect())
    }
}

/// A schema as clients send it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct SchemaBody {
    /// The schema text: Avro JSON, or a JSON Schema document, as a string.
    schema: String,
    /// `AVRO` (default) or `JSON` (the broker also takes them in lower case).
    #[serde(default)]
    #[schema(value_type = Option<SchemaType>)]
    schema_type: Option<String>,
    /// References to other subjects are not supported; an empty list is accepted. Other
    /// fields newer clients send (`metadata`, `ruleSet`) are ignored.
    #[serde(default)]
    #[schema(value_type = Vec<Object>, max_items = 0)]
    references: Vec<Value>,
}

impl SchemaBody {
    fn kind(&self) -> Result<SchemaType, SchemaError> {
        if !self.references.is_empty() {
            return Err(SchemaError::InvalidSchema {
                message: "schema references are not supported".into(),
            });
        }
        SchemaType::parse(self.schema_type.as_deref())
    }
}

async fn schema_body(headers: &HeaderMap, body: Body) -> Result<SchemaBody, RegistryApiError> {
    Ok(json_body(headers, body, SCHEMA_BODY_LIMIT_BYTES).await?)
}

#[utoipa::path(get, path = "/schemas/subjects", tag = "schemas", params(DeletedQuery), responses((status = 200, description = "Subject names"), (status = 400, description = "Malformed query or body (error_code 40001)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn list_subjects(
    State(broker): State<Arc<Broker>>,
    Q(q): Q<DeletedQuery>,
    headers: HeaderMap,
) -> Answer {
    let caller = caller(&broker, &headers)?;
    let prefix = q.subject_prefix.as_deref().unwrap_or("");
    let visible = |subjects: Vec<String>| -> Vec<String> {
        subjects
            .into_iter()
            .filter(|s| s.starts_with(prefix) && caller.sees(subject_topic(s)))
            .collect()
    };
    let all = visible(broker.schemas.subjects(true));
    let live = visible(broker.schemas.subjects(false));
    answer(json!(q.list(all, live)?))
}

#[utoipa::path(get, path = "/schemas/subjects/{subject}/versions", tag = "schemas", params(("subject" = String, Path, description = "Subject, e.g. `orders-value`"), DeletedQuery), responses((status = 200, description = "Version numbers"), (status = 400, description = "Malformed query or body (error_code 40001)"), (status = 404, description = "Unknown subject or version (error_code 40401, 40402)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn list_versions(
    State(broker): State<Arc<Broker>>,
    P(subject): P<String>,
    Q(q): Q<DeletedQuery>,
    headers: HeaderMap,
) -> Answer {
    may_read(&broker, &headers, &subject)?;
    let all = broker.schemas.versions(&subject, true)?;
    // A subject whose versions are all deleted has no live ones: not an error here.
    let live = match broker.schemas.versions(&subject, false) {
        Ok(live) => live,
        Err(_) if q.deleted()? || q.deleted_only()? => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    answer(json!(q.list(all, live)?))
}

#[utoipa::path(post, path = "/schemas/subjects/{subject}/versions", tag = "schemas", params(("subject" = String, Path, description = "Subject, e.g. `orders-value`")), request_body(content = SchemaBody, content_type = "application/vnd.schemaregistry.v1+json"), responses((status = 200, description = "`{\"id\"}` of the new or existing version"), (status = 400, description = "Malformed query or body (error_code 40001)"), (status = 409, description = "Incompatible with the subject's level (409)"), (status = 422, description = "Invalid schema or subject (42201)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn register(
    State(broker): State<Arc<Broker>>,
    P(subject): P<String>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    may_admin(&broker, &headers, &subject)?;
    let body = schema_body(&headers, body).await?;
    let kind = body.kind()?;
    let registered = register_schema(&broker, subject, kind, body.schema).await?;
    answer(describe(&registered))
}

#[utoipa::path(get, path = "/schemas/subjects/{subject}/versions/{version}", tag = "schemas", params(("subject" = String, Path, description = "Subject, e.g. `orders-value`"), ("version" = String, Path, description = "A version number, `latest` or `-1`"), DeletedQuery), responses((status = 200, description = "`{\"subject\",\"version\",\"id\",\"schemaType\",\"schema\"}`"), (status = 400, description = "Malformed query or body (error_code 40001)"), (status = 404, description = "Unknown subject or version (error_code 40401, 40402)"), (status = 422, description = "Invalid version: a positive number, `latest` or `-1` (42202)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn get_version(
    State(broker): State<Arc<Broker>>,
    P((subject, version)): P<(String, String)>,
    Q(q): Q<DeletedQuery>,
    headers: HeaderMap,
) -> Answer {
    may_read(&broker, &headers, &subject)?;
    let version = VersionRef::parse(&version)?;
    answer(describe(&broker.schemas.get(
        &subject,
        version,
        q.deleted()?,
    )?))
}

#[utoipa::path(get, path = "/schemas/subjects/{subject}/versions/{version}/schema", tag = "schemas", params(("subject" = String, Path, description = "Subject, e.g. `orders-value`"), ("version" = String, Path, description = "A version number, `latest` or `-1`")), responses((status = 200, description = "The schema text alone"), (status = 400, description = "Malformed query or body (error_code 40001)"), (status = 404, description = "Unknown subject or version (error_code 40401, 40402)"), (status = 422, description = "Invalid version: a positive number, `latest` or `-1` (42202)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn get_version_text(
    State(broker): State<Arc<Broker>>,
    P((subject, version)): P<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    may_read(&broker, &headers, &subject)?;
    let version = VersionRef::parse(&version)?;
    let schema = broker.schemas.get(&subject, version, false)?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, SCHEMA_REGISTRY_JSON)],
        schema.schema,
    )
        .into_response())
}

#[utoipa::path(delete, path = "/schemas/subjects/{subject}/versions/{version}", tag = "schemas", params(("subject" = String, Path, description = "Subject, e.g. `orders-value`"), ("version" = String, Path, description = "A version number, `latest` or `-1`")), responses((status = 200, description = "The version number, soft-deleted"), (status = 400, description = "Malformed query or body (error_code 40001)"), (status = 404, description = "Unknown subject or version (error_code 40401, 40402)"), (status = 422, description = "Invalid version: a positive number, `latest` or `-1` (42202)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn delete_version(
    State(broker): State<Arc<Broker>>,
    P((subject, version)): P<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    may_admin(&broker, &headers, &subject)?;
    let version = VersionRef::parse(&version)?;
    let deleted = blocking(&broker, move |r| r.delete_version(&subject, version)).await?;
    answer(json!(deleted))
}

#[utoipa::path(delete, path = "/schemas/subjects/{subject}", tag = "schemas", params(("subject" = String, Path, description = "Subject, e.g. `orders-value`")), responses((status = 200, description = "The versions soft-deleted"), (status = 400, description = "Malformed query or body (error_code 40001)"), (status = 404, description = "Unknown subject or version (error_code 40401, 40402)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn delete_subject(
    State(broker): State<Arc<Broker>>,
    P(subject): P<String>,
    headers: HeaderMap,
) -> Answer {
    may_admin(&broker, &headers, &subject)?;
    let deleted = blocking(&broker, move |r| r.delete_subject(&subject)).await?;
    answer(json!(deleted))
}

#[utoipa::path(post, path = "/schemas/subjects/{subject}", tag = "schemas", params(("subject" = String, Path, description = "Subject, e.g. `orders-value`")), request_body(content = SchemaBody, content_type = "application/vnd.schemaregistry.v1+json"), responses((status = 200, description = "The live version holding the schema"), (status = 400, description = "Malformed query or body (error_code 40001)"), (status = 404, description = "Not registered under the subject (40401, 40403)"), (status = 422, description = "Invalid schema (42201)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn lookup(
    State(broker): State<Arc<Broker>>,
    P(subject): P<String>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    may_read(&broker, &headers, &subject)?;
    let body = schema_body(&headers, body).await?;
    let kind = body.kind()?;
    answer(describe(&broker.schemas.lookup(
        &subject,
        kind,
        &body.schema,
    )?))
}

fn parse_id(text: &str) -> Result<u32, SchemaError> {
    text.parse().map_err(|_| SchemaError::SchemaNotFound {
        id: text.to_owned(),
    })
}

/// Schema `id`, visible when the caller may read one of the subjects holding it.
fn visible_id(
    broker: &Broker,
    headers: &HeaderMap,
    id: u32,
) -> Result<Vec<(String, u32)>, RegistryApiError> {
    let caller = caller(broker, headers)?;
    let versions = broker.schemas.versions_of_id(id);
    let visible: Vec<_> = versions
        .into_iter()
        .filter(|(s, _)| caller.sees(subject_topic(s)))
        .collect();
    // A soft-deleted schema still resolves (old records need it), for callers who see all.
    if visible.is_empty() && !caller.sees("*") {
        return Err(SchemaError::SchemaNotFound { id: id.to_string() }.into());
    }
    Ok(visible)
}

#[utoipa::path(get, path = "/schemas/schemas/ids/{id}", tag = "schemas", params(("id" = u32, Path, description = "Global schema id")), responses((status = 200, description = "`{\"schema\",\"schemaType\",\"references\"}`"), (status = 404, description = "Unknown id (40403)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn get_by_id(
    State(broker): State<Arc<Broker>>,
    P(id): P<String>,
    headers: HeaderMap,
) -> Answer {
    let id = parse_id(&id)?;
    let (kind, schema) = broker.schemas.by_id(id)?;
    visible_id(&broker, &headers, id)?;
    answer(json!({"schema": schema, "schemaType": kind.as_str(), "references": []}))
}

#[utoipa::path(get, path = "/schemas/schemas/ids/{id}/versions", tag = "schemas", params(("id" = u32, Path, description = "Global schema id")), responses((status = 200, description = "`[{\"subject\",\"version\"}]`"), (status = 404, description = "Unknown id (40403)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn get_id_versions(
    State(broker): State<Arc<Broker>>,
    P(id): P<String>,
    headers: HeaderMap,
) -> Answer {
    let id = parse_id(&id)?;
    broker.schemas.by_id(id)?;
    let versions: Vec<Value> = visible_id(&broker, &headers, id)?
        .into_iter()
        .map(|(subject, version)| json!({"subject": subject, "version": version}))
        .collect();
    answer(json!(versions))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct LevelBody {
    /// The level (the broker also takes it in lower case).
    #[schema(value_type = Compatibility)]
    compatibility: String,
}

async fn level_body(headers: &HeaderMap, body: Body) -> Result<Compatibility, RegistryApiError> {
    let body: LevelBody = json_body(headers, body, SCHEMA_BODY_LIMIT_BYTES).await?;
    Ok(Compatibility::parse(&body.compatibility)?)
}

#[utoipa::path(get, path = "/schemas/config", tag = "schemas", responses((status = 200, description = "`{\"compatibilityLevel\"}`"), (status = 401, description = "Not authenticated")))]
pub(super) async fn get_global_level(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
) -> Answer {
    caller(&broker, &headers)?;
    let level = broker.schemas.level(None).unwrap_or_default();
    answer(json!({"compatibilityLevel": level.as_str()}))
}

#[utoipa::path(put, path = "/schemas/config", tag = "schemas", request_body(content = LevelBody, content_type = "application/vnd.schemaregistry.v1+json"), responses((status = 200, description = "The level set"), (status = 400, description = "Malformed query or body (error_code 40001)"), (status = 422, description = "Invalid level (42203)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn put_global_level(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    super::auth::authorize(&broker, &headers, Action::Admin, "*")?;
    let level = level_body(&headers, body).await?;
    blocking(&broker, move |r| r.set_level(None, level)).await?;
    answer(json!({"compatibility": level.as_str()}))
}

/// A subject's own level, else the global one (Confluent's `defaultToGlobal=true`).
#[utoipa::path(get, path = "/schemas/config/{subject}", tag = "schemas", params(("subject" = String, Path, description = "Subject, e.g. `orders-value`")), responses((status = 200, description = "`{\"compatibilityLevel\"}`"), (status = 404, description = "No level set for the subject (40401)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn get_subject_level(
    State(broker): State<Arc<Broker>>,
    P(subject): P<String>,
    headers: HeaderMap,
) -> Answer {
    may_read(&broker, &headers, &subject)?;
    let level = broker.schemas.effective_level(&subject);
    answer(json!({"compatibilityLevel": level.as_str()}))
}

#[utoipa::path(put, path = "/schemas/config/{subject}", tag = "schemas", params(("subject" = String, Path, description = "Subject, e.g. `orders-value`")), request_body(content = LevelBody, content_type = "application/vnd.schemaregistry.v1+json"), responses((status = 200, description = "The level set"), (status = 400, description = "Malformed query or body (error_code 40001)"), (status = 422, description = "Invalid level (42203)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn put_subject_level(
    State(broker): State<Arc<Broker>>,
    P(subject): P<String>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    may_admin(&broker, &headers, &subject)?;
    let level = level_body(&headers, body).await?;
    blocking(&broker, move |r| r.set_level(Some(&subject), level)).await?;
    answer(json!({"compatibility": level.as_str()}))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct VerboseQuery {
    /// Say why not.
    #[param(value_type = Option<bool>)]
    #[serde(default)]
    verbose: Option<String>,
    /// Sent by Confluent's clients on every test; schemas are compared in their normal form
    /// whatever it says.
    #[param(value_type = Option<bool>)]
    #[serde(default)]
    normalize: Option<String>,
}

#[utoipa::path(post, path = "/schemas/compatibility/subjects/{subject}/versions/{version}", tag = "schemas", params(("subject" = String, Path, description = "Subject, e.g. `orders-value`"), ("version" = String, Path, description = "A version number, `latest` or `-1`"), VerboseQuery), request_body(content = SchemaBody, content_type = "application/vnd.schemaregistry.v1+json"), responses((status = 200, description = "`{\"is_compatible\",\"messages\"?}`"), (status = 400, description = "Malformed query or body (error_code 40001)"), (status = 404, description = "Unknown subject or version (error_code 40401, 40402)"), (status = 422, description = "Invalid schema or version (42201, 42202)"), (status = 401, description = "Not authenticated"), (status = 403, description = "No right on the subject's topic")))]
pub(super) async fn test_compatibility(
    State(broker): State<Arc<Broker>>,
    P((subject, version)): P<(String, String)>,
    Q(q): Q<VerboseQuery>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    may_read(&broker, &headers, &subject)?;
    let version = VersionRef::parse(&version)?;
    let body = schema_body(&headers, body).await?;
    let kind = body.kind()?;
    let reasons = broker
        .schemas
        .test_compatibility(&subject, version, kind, &body.schema)?;
    let mut out = json!({"is_compatible": reasons.is_empty()});
    flag("normalize", q.normalize.as_deref())?;
    if flag("verbose", q.verbose.as_deref())? {
        out["messages"] = json!(reasons);
    }
    answer(out)
}
