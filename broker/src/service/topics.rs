//! Topic operations that span more than the topic registry ([`crate::topic::Topics`] does
//! create, describe and change on its own).

use std::sync::Arc;

use super::groups::GroupError;
use crate::state::Broker;
use crate::topic::TopicError;

/// Deleting a topic failed.
#[derive(Debug, thiserror::Error)]
pub enum DeleteTopicError {
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error(transparent)]
    Groups(#[from] GroupError),
}

impl Broker {
    /// Deletes a topic's data and then its groups' offsets, bindings and members. A crash
    /// between the two steps leaves groups of a topic that no longer exists;
    /// [`Broker::forget_groups_of_deleted_topics`] finishes the job at the next start.
    pub async fn delete_topic(self: &Arc<Self>, name: &str) -> Result<(), DeleteTopicError> {
        self.topics.delete(name).await?;
        self.forget_topic_in_groups(name).await?;
        Ok(())
    }

    /// Forgets the group state of topics that are gone (left by a delete the broker did not
    /// finish). Groups are bound only to topics that existed when they were bound, so a group
    /// topic the registry does not know was deleted.
    pub async fn forget_groups_of_deleted_topics(&self) -> Result<(), GroupError> {
        for topic in self.groups.topics().await? {
            if self.topics.get(&topic).is_none() {
                tracing::warn!(
                    topic,
                    "forgetting the groups of a topic deleted before a crash"
                );
                self.groups.delete_topic(&topic).await?;
            }
        }
        Ok(())
    }
}
