//! Topic routes of [`Client`]: `/v1/topics` and `/v1/topics/{topic}`.

use reqwest::Method;
use wharf_proto::api::{CreateTopic, PatchTopic, TopicDescription, TopicList};

use super::{Client, segment, topic_path};
use crate::error::Error;

impl Client {
    /// `POST /v1/topics`.
    pub async fn create_topic(&self, request: &CreateTopic) -> Result<TopicDescription, Error> {
        segment("topic", &request.name)?;
        let op = format!("create topic {}", request.name);
        self.call_json(&op, Method::POST, "/v1/topics", request)
            .await
    }

    /// `GET /v1/topics`.
    pub async fn list_topics(&self) -> Result<TopicList, Error> {
        self.get("list topics", "/v1/topics").await
    }

    /// `GET /v1/topics/{topic}`: configuration and per-partition offsets.
    pub async fn describe_topic(&self, topic: &str) -> Result<TopicDescription, Error> {
        self.get(&format!("describe topic {topic}"), &topic_path(topic)?)
            .await
    }

    /// `PATCH /v1/topics/{topic}`.
    pub async fn patch_topic(
        &self,
        topic: &str,
        patch: &PatchTopic,
    ) -> Result<TopicDescription, Error> {
        let op = format!("patch topic {topic}");
        self.call_json(&op, Method::PATCH, &topic_path(topic)?, patch)
            .await
    }

    /// `DELETE /v1/topics/{topic}`.
    pub async fn delete_topic(&self, topic: &str) -> Result<(), Error> {
        let op = format!("delete topic {topic}");
        self.call_empty(&op, Method::DELETE, &topic_path(topic)?)
            .await
    }
}
