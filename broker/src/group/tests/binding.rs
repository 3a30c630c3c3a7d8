//! A group's durable topic binding, and what deleting a topic or a group forgets.

use super::*;

fn join_for(topic: &str, member: &str) -> JoinRequest {
    JoinRequest {
        topic: topic.into(),
        ..req(member, LEASE_MS)
    }
}

#[test]
fn a_group_stays_bound_to_its_first_topic_across_leaves_and_restarts() {
    let f = Fixture::new();
    let mut c = f.open();
    assert_eq!(c.access("g"), GroupAccess::Unknown);
    let a = c.join(0, "g", req("a", LEASE_MS), 2).unwrap();
    c.leave(1, "g", &a.member_id).unwrap();
    // No member is live and nothing was committed, yet the group keeps its topic...
    assert_eq!(c.access("g"), GroupAccess::Bound(TOPIC.into()));
    assert!(matches!(
        c.join(2, "g", join_for("payments", "b"), 2),
        Err(JoinError::TopicMismatch(_))
    ));
    // ...also after a restart, where no lease survives.
    drop(c);
    let mut c = f.open();
    assert_eq!(c.access("g"), GroupAccess::Bound(TOPIC.into()));
    assert!(matches!(
        c.join(3, "g", join_for("payments", "b"), 2),
        Err(JoinError::TopicMismatch(_))
    ));
    assert!(matches!(
        c.reset_offsets(3, "g", "payments", &[(0, 0)]),
        Err(ResetError::TopicMismatch(_))
    ));
    let groups = c.list_groups(4);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].topic.as_deref(), Some(TOPIC));
    // The name is free again only once the group is deleted.
    c.delete_group(5, "g").unwrap();
    assert_eq!(c.access("g"), GroupAccess::Unknown);
    assert_eq!(
        c.join(6, "g", join_for("payments", "b"), 2).unwrap().topic,
        "payments"
    );
    drop(c);
    assert_eq!(f.open().access("g"), GroupAccess::Bound("payments".into()));
}

#[test]
fn an_offset_reset_binds_a_new_group_durably() {
    let f = Fixture::new();
    let mut c = f.open();
    c.reset_offsets(0, "prepared", TOPIC, &[(0, 5)]).unwrap();
    drop(c);
    let mut c = f.open();
    assert_eq!(c.access("prepared"), GroupAccess::Bound(TOPIC.into()));
    assert!(matches!(
        c.join(1, "prepared", join_for("payments", "x"), 1),
        Err(JoinError::TopicMismatch(_))
    ));
    let x = c.join(2, "prepared", req("x", LEASE_MS), 1).unwrap();
    assert_eq!(x.assignments[0].position, Position::Offset(5));
}

#[test]
fn offsets_stored_before_bindings_existed_bind_their_group_at_open() {
    let f = Fixture::new();
    {
        // Offsets as an older broker stored them: no binding row.
        let db = redb::Database::create(&f.path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn
                .open_table(redb::TableDefinition::<(&str, &str, u32), u64>::new(
                    "group_offsets",
                ))
                .unwrap();
            t.insert(("one", TOPIC, 0), 3).unwrap();
            t.insert(("two", TOPIC, 0), 3).unwrap();
            t.insert(("two", "payments", 0), 4).unwrap();
        }
        txn.commit().unwrap();
    }
    let c = f.open();
    assert_eq!(c.access("one"), GroupAccess::Bound(TOPIC.into()));
    assert_eq!(
        c.access("two"),
        GroupAccess::Unbound(vec![TOPIC.into(), "payments".into()])
    );
    drop(c);
    assert_eq!(f.open().access("one"), GroupAccess::Bound(TOPIC.into()));
}

#[test]
fn deleting_a_topic_forgets_its_offsets_and_members() {
    let f = Fixture::new();
    let mut c = f.open();
    let a = c.join(0, "g", req("a", LEASE_MS), 1).unwrap();
    c.commit(1, "g", "a", &commit_one(0, 3, epoch_of(&a, 0)))
        .unwrap();
    c.reset_offsets(1, "idle", TOPIC, &[(0, 1)]).unwrap();
    let out = c.delete_topic(TOPIC).unwrap();
    assert_eq!(
        out,
        DeleteTopicOutcome {
            offsets_deleted: 2,
            members_removed: 1
        }
    );
    assert!(c.list_groups(2).is_empty());
    assert!(matches!(
        c.commit(3, "g", "a", &commit_one(0, 4, epoch_of(&a, 0))),
        Err(CommitError::Fenced { .. })
    ));
    drop(c);
    assert!(f.open().list_groups(0).is_empty());
}

#[test]
fn deleting_a_group_is_refused_while_members_are_live() {
    let f = Fixture::new();
    let mut c = f.open();
    let a = c.join(0, "g", req("a", LEASE_MS), 1).unwrap();
    c.commit(1, "g", "a", &commit_one(0, 3, epoch_of(&a, 0)))
        .unwrap();
    assert!(matches!(
        c.delete_group(2, "g"),
        Err(DeleteGroupError::MembersLive { .. })
    ));
    c.leave(3, "g", "a").unwrap();
    assert_eq!(c.delete_group(4, "g").unwrap().offsets_deleted, 1);
    assert!(matches!(
        c.delete_group(5, "g"),
        Err(DeleteGroupError::UnknownGroup { .. })
    ));
}
