//! Why the producer could not handle an event.

use wharf_functions_shared::ClaimCheckError;

/// What the handler fails with. HTTP events turn these into responses
/// ([`ProducerError::http_status`], [`ProducerError::code`]); other sources return them to Lambda
/// as a function error, so Lambda retries the event (under the same idempotency key).
#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    /// The payload matches none of the supported event shapes.
    #[error(
        "unrecognised event: expected API Gateway v2 / Function URL, SQS, S3, EventBridge or {{\"topic\",\"records\"}}; got an event with fields [{fields}]"
    )]
    UnrecognisedEvent { fields: String },
    /// The event has the right shape but unusable content.
    #[error("invalid {kind} event: {message}")]
    InvalidEvent {
        kind: &'static str,
        code: &'static str,
        message: String,
    },
    /// Neither the event nor `WHARF_TOPIC` names a topic.
    #[error("no topic for this {kind} event: set WHARF_TOPIC or name one in the event")]
    NoTopic { kind: &'static str },
    /// The broker call failed.
    #[error("producing to {topic} failed")]
    Broker {
        topic: String,
        // Boxed (as is `ClaimCheck`) so that `Result<_, ProducerError>` stays small on the
        // success path: both sources are over 130 bytes.
        #[source]
        source: Box<wharf_client::Error>,
    },
    /// A large value could not be offloaded; nothing was produced.
    #[error(transparent)]
    ClaimCheck(Box<ClaimCheckError>),
    /// The broker refused records (answer 207 or 400); for sources without partial answers.
    #[error("broker refused {refused} of {total} records for {topic}: {code}: {message}")]
    Refused {
        topic: String,
        refused: usize,
        total: usize,
        code: String,
        message: String,
    },
}

impl From<ClaimCheckError> for ProducerError {
    fn from(error: ClaimCheckError) -> Self {
        ProducerError::ClaimCheck(Box::new(error))
    }
}

impl ProducerError {
    /// The HTTP status an HTTP caller gets.
    pub fn http_status(&self) -> u16 {
        match self {
            ProducerError::UnrecognisedEvent { .. }
            | ProducerError::InvalidEvent { .. }
            | ProducerError::NoTopic { .. } => 400,
            ProducerError::Broker { source, .. } => match source.as_ref() {
                wharf_client::Error::Api { status, .. } if *status < 500 => *status,
                wharf_client::Error::Api { status: 503, .. } => 503,
                wharf_client::Error::Timeout { .. } => 504,
                _ => 502,
            },
            ProducerError::ClaimCheck(_) => 502,
            ProducerError::Refused { .. } => 400,
        }
    }

    /// A stable snake_case code for the error body (the broker's code when it answered).
    pub fn code(&self) -> String {
        match self {
            ProducerError::UnrecognisedEvent { .. } => "unrecognised_event".to_owned(),
            ProducerError::InvalidEvent { code, .. } => (*code).to_owned(),
            ProducerError::NoTopic { .. } => "no_topic".to_owned(),
            ProducerError::Broker { source, .. } => match source.as_ref() {
                wharf_client::Error::Api { code, .. } => code.to_string(),
                wharf_client::Error::Timeout { .. } => "broker_timeout".to_owned(),
                _ => "broker_unavailable".to_owned(),
            },
            ProducerError::ClaimCheck(_) => "offload_failed".to_owned(),
            ProducerError::Refused { code, .. } => code.clone(),
        }
    }

    /// Whether the same request may succeed later.
    pub fn retriable(&self) -> bool {
        match self {
            ProducerError::Broker { source, .. } => source.is_retriable(),
            ProducerError::ClaimCheck(_) => true,
            _ => false,
        }
    }

    /// The message with its causes, for error bodies and logs.
    pub fn full_message(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }
}

impl From<ProducerError> for lambda_runtime::Diagnostic {
    fn from(e: ProducerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.code(),
            error_message: e.full_message(),
        }
    }
}
