//! [`PgLeadership`]: the gateway whose dedicated session holds one advisory lock runs the
//! background jobs. The lock is session-level, so the server drops it when the session ends
//! (the gateway died, or its connection broke); another gateway's next try takes it.

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

use crate::service::backend::{BoxFuture, Leadership};

/// The leadership lock (one-`bigint` advisory key space): "wharf" + 2.
const LEADER_LOCK: i64 = 0x7768_6172_6602;

/// The dedicated session, if connected, and whether it holds the lock.
#[derive(Debug)]
struct Session {
    client: Client,
    leads: bool,
}

/// Leadership through `pg_try_advisory_lock` on a connection of its own (outside the pool, so
/// that no other use of it can end the session or take its lock by accident).
#[derive(Debug)]
pub struct PgLeadership {
    config: tokio_postgres::Config,
    session: Mutex<Option<Session>>,
}

impl PgLeadership {
    pub fn new(config: tokio_postgres::Config) -> Self {
        Self {
            config,
            session: Mutex::new(None),
        }
    }

    async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "leadership connection ended");
            }
        });
        Ok(client)
    }

    /// Whether this gateway leads now; errors (no database) answer "not the leader".
    async fn check(&self) -> Result<bool, tokio_postgres::Error> {
        let mut session = self.session.lock().await;
        if let Some(s) = session.as_ref() {
            let alive = !s.client.is_closed() && s.client.simple_query("SELECT 1").await.is_ok();
            if !alive {
                if s.leads {
                    tracing::warn!("leadership lost with its database session");
                }
                *session = None;
            } else if s.leads {
                return Ok(true);
            }
        }
        if session.is_none() {
            *session = Some(Session {
                client: self.connect().await?,
                leads: false,
            });
        }
        let s = session.as_mut().expect("session just set");
        let row = s
            .client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
            .await?;
        s.leads = row.get(0);
        if s.leads {
            tracing::info!("this gateway leads the background jobs");
        }
        Ok(s.leads)
    }
}

impl Leadership for PgLeadership {
    fn is_leader(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            match self.check().await {
                Ok(leads) => leads,
                Err(error) => {
                    tracing::warn!(%error, "leadership check failed; not leading");
                    *self.session.lock().await = None;
                    false
                }
            }
        })
    }
}
