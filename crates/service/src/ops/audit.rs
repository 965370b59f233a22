//! The append-only, hash-chained audit log: every admin action (and every
//! automatic campaign decision), who made it, when, and the state before and
//! after.
//!
//! Each entry names the SHA-256 of the entry before it (`prev`; [`GENESIS`] for
//! the first), and the head record (`audit/head`) names the last entry and its
//! digest. Editing, moving or deleting an entry therefore breaks a link that
//! [`ChainVerifier`] finds (`sluice audit verify`); rewriting the whole chain from an
//! edited entry on is caught by an anchor, a digest noted earlier
//! (`--anchor SEQ:DIGEST`).
//!
//! Appending is lock-free: an appender writes entry `head + 1` only if that
//! number is free (compare-and-swap from absent), then moves the head to it. An
//! appender that finds the number taken moves the head past the other entry
//! first (its writer may have stopped in between), then tries the next number.
//! So the head never names an entry that is not written, and entries are never
//! rewritten.

use serde_json::Value;
pub use sluice_api::admin::audit::{
    Anchor, ChainVerifier, Entry, Finding, GENESIS, Head, MAX_PAGE, Page, Report,
};

use crate::kernel::contention::Contention;
use crate::kernel::http::ApiError;
use crate::kernel::keys;
use crate::kernel::records;
use crate::kernel::store::Store;

/// The head of the log. A store written before the log was chained has no head
/// record: its entries are numbered by the `seq/audit` counter, and the chain
/// starts after them.
pub fn head(store: &dyn Store) -> Result<Head, ApiError> {
    Ok(read_head(store)?.1)
}

fn read_head(store: &dyn Store) -> Result<(Option<Vec<u8>>, Head), ApiError> {
    let raw = store.get(keys::AUDIT_HEAD)?;
    let head = match &raw {
        Some(bytes) => records::decode(keys::AUDIT_HEAD, bytes)?,
        None => Head {
            seq: store.counters(&[keys::AUDIT_SEQ.to_owned()])?[0],
            digest: GENESIS.to_owned(),
        },
    };
    Ok((raw, head))
}

/// Appends an entry at the end of the chain and returns its number.
pub fn append(
    store: &dyn Store,
    at: u64,
    actor: &str,
    action: &str,
    target: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<i64, ApiError> {
    let mut contention = Contention::new();
    loop {
        let (raw_head, head) = read_head(store)?;
        let entry = Entry {
            seq: head.seq + 1,
            at,
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            before: before.clone(),
            after: after.clone(),
            prev: Some(head.digest.clone()),
        };
        let key = keys::audit(entry.seq);
        let ours = store.compare_and_swap(&key, None, &records::encode(&entry))?;
        let last = if ours {
            entry
        } else {
            // The number is taken: by an appender that got there first, or by
            // one that stopped before moving the head. Move the head past it.
            match records::read::<Entry>(store, &key)? {
                Some(other) if other.prev.as_deref() == Some(head.digest.as_str()) => other,
                Some(_) => {
                    return Err(ApiError::internal(format!(
                        "audit entry {} does not follow the entry before it: \
                         the log was changed outside Sluice (run `sluice audit verify`)",
                        head.seq + 1
                    )));
                }
                None => {
                    if contention.lost() {
                        continue;
                    }
                    return Err(contended());
                }
            }
        };
        let moved = Head {
            seq: last.seq,
            digest: last.digest(),
        };
        // Losing this race is fine: whoever won moved the head at least as far.
        store.compare_and_swap(
            keys::AUDIT_HEAD,
            raw_head.as_deref(),
            &records::encode(&moved),
        )?;
        if ours {
            return Ok(moved.seq);
        }
        if !contention.lost() {
            return Err(contended());
        }
    }
}

fn contended() -> ApiError {
    ApiError::new(
        503,
        "contended",
        "the audit log is being appended to by many requests at once; retry",
    )
}

/// The entries at positions `after + 1 ..= after + limit` (at most the head).
pub fn read(store: &dyn Store, after: i64, limit: usize) -> Result<Page, ApiError> {
    let after = after.max(0);
    let head = head(store)?;
    let end = head
        .seq
        .min(after.saturating_add(limit.clamp(1, MAX_PAGE) as i64));
    let mut page = Page {
        entries: Vec::new(),
        missing: Vec::new(),
        next: end.max(after),
        head,
    };
    if end <= after {
        return Ok(page);
    }
    let keys: Vec<String> = (after + 1..=end).map(keys::audit).collect();
    let values = store.get_many(&keys)?;
    for ((position, key), value) in (after + 1..).zip(&keys).zip(values) {
        match value {
            Some(bytes) => page.entries.push(records::decode(key, &bytes)?),
            None => page.missing.push(position),
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::memory_store::MemoryStore;

    fn log_of(n: u64) -> MemoryStore {
        let store = MemoryStore::default();
        for i in 1..=n {
            append(
                &store,
                i,
                "admin",
                "campaign.pause",
                &format!("c{i}"),
                None,
                None,
            )
            .unwrap();
        }
        store
    }

    fn verify(store: &MemoryStore, anchors: &[Anchor]) -> Report {
        let mut verifier = ChainVerifier::with_anchors(anchors);
        // Page by page, as `sluice audit verify` reads the API.
        let mut after = 0;
        loop {
            let page = read(store, after, 2).unwrap();
            for (position, entry) in page.positioned(after) {
                verifier.push(position, entry);
            }
            if page.next == after {
                return verifier.finish(Some(&page.head));
            }
            after = page.next;
        }
    }

    fn entry(store: &MemoryStore, seq: i64) -> Entry {
        records::read(store, &keys::audit(seq)).unwrap().unwrap()
    }

    fn put(store: &MemoryStore, position: i64, entry: &Entry) {
        store
            .set(&keys::audit(position), &records::encode(entry))
            .unwrap();
    }

    #[test]
    fn an_intact_log_verifies_and_each_entry_names_the_one_before() {
        let store = log_of(5);
        assert_eq!(entry(&store, 1).prev.as_deref(), Some(GENESIS));
        for seq in 2..=5 {
            assert_eq!(
                entry(&store, seq).prev,
                Some(entry(&store, seq - 1).digest())
            );
        }
        let report = verify(&store, &[]);
        assert_eq!(report.findings, []);
        assert_eq!(report.entries, 5);
        assert_eq!(report.last, Some(head(&store).unwrap()));
        assert_eq!(verify(&MemoryStore::default(), &[]).findings, []);
    }

    #[test]
    fn an_edited_entry_is_found() {
        let store = log_of(5);
        let mut edited = entry(&store, 3);
        edited.actor = "someone-else".into();
        put(&store, 3, &edited);
        assert_eq!(
            verify(&store, &[]).findings,
            [Finding::BrokenLink { seq: 4 }]
        );
        // The last entry is covered by the head.
        let store = log_of(5);
        let mut edited = entry(&store, 5);
        edited.action = "campaign.resume".into();
        put(&store, 5, &edited);
        assert!(matches!(
            verify(&store, &[]).findings[..],
            [Finding::Head { .. }]
        ));
    }

    #[test]
    fn reordered_entries_are_found() {
        let store = log_of(5);
        let (two, three) = (entry(&store, 2), entry(&store, 3));
        put(&store, 2, &three);
        put(&store, 3, &two);
        let findings = verify(&store, &[]).findings;
        assert!(
            findings.contains(&Finding::Misplaced {
                seq: 3,
                position: 2
            }),
            "{findings:?}"
        );
        assert!(
            findings.contains(&Finding::BrokenLink { seq: 3 }),
            "{findings:?}"
        );
        // Renumbered to hide the move: the links still break.
        let store = log_of(5);
        let (mut two, mut three) = (entry(&store, 2), entry(&store, 3));
        (two.seq, three.seq) = (3, 2);
        put(&store, 2, &three);
        put(&store, 3, &two);
        let findings = verify(&store, &[]).findings;
        assert!(
            findings.contains(&Finding::BrokenLink { seq: 2 }),
            "{findings:?}"
        );
    }

    #[test]
    fn deleted_entries_are_found() {
        let store = log_of(5);
        store.delete(&keys::audit(2)).unwrap();
        assert_eq!(
            verify(&store, &[]).findings,
            [Finding::Missing { from: 2, to: 2 }]
        );
        // The last one: the head still names it.
        let store = log_of(5);
        store.delete(&keys::audit(5)).unwrap();
        assert!(matches!(
            verify(&store, &[]).findings[..],
            [Finding::Head { .. }]
        ));
        // Removing a link is found too.
        let store = log_of(5);
        let mut unlinked = entry(&store, 4);
        unlinked.prev = None;
        put(&store, 4, &unlinked);
        assert!(
            verify(&store, &[])
                .findings
                .contains(&Finding::Unlinked { seq: 4 })
        );
    }

    #[test]
    fn a_log_rewritten_consistently_is_caught_by_an_anchor() {
        let store = log_of(5);
        let anchor = Anchor {
            seq: 3,
            digest: entry(&store, 3).digest(),
        };
        // Rewrite entry 3 and everything after it, and the head, consistently.
        for seq in 3..=5 {
            let mut rewritten = entry(&store, seq);
            rewritten.prev = Some(entry(&store, seq - 1).digest());
            if seq == 3 {
                rewritten.actor = "someone-else".into();
            }
            put(&store, seq, &rewritten);
        }
        let last = entry(&store, 5);
        let head = Head {
            seq: 5,
            digest: last.digest(),
        };
        store
            .set(keys::AUDIT_HEAD, &records::encode(&head))
            .unwrap();
        assert_eq!(
            verify(&store, &[]).findings,
            [],
            "the chain alone cannot tell"
        );
        let findings = verify(&store, std::slice::from_ref(&anchor)).findings;
        assert!(
            matches!(&findings[..], [Finding::Anchor { anchor: a, found: Some(_) }] if *a == anchor)
        );
    }

    #[test]
    fn an_appender_that_stopped_before_moving_the_head_is_helped_past() {
        let store = log_of(2);
        let stranded = Entry {
            seq: 3,
            at: 9,
            actor: "admin".into(),
            action: "campaign.abort".into(),
            target: "c9".into(),
            before: None,
            after: None,
            prev: Some(head(&store).unwrap().digest),
        };
        put(&store, 3, &stranded);
        assert_eq!(head(&store).unwrap().seq, 2);
        assert_eq!(
            append(&store, 10, "admin", "campaign.resume", "c9", None, None).unwrap(),
            4
        );
        assert_eq!(entry(&store, 3), stranded, "entries are never rewritten");
        assert_eq!(entry(&store, 4).prev, Some(stranded.digest()));
        assert_eq!(verify(&store, &[]).findings, []);
    }

    #[test]
    fn a_log_from_before_the_chain_continues_with_a_chain() {
        let store = MemoryStore::default();
        for seq in 1..=2 {
            store.increment(keys::AUDIT_SEQ, 1).unwrap();
            let old = Entry {
                seq,
                at: 1,
                actor: "admin".into(),
                action: "release.publish".into(),
                target: "1.0".into(),
                before: None,
                after: None,
                prev: None,
            };
            put(&store, seq, &old);
        }
        assert_eq!(
            append(&store, 5, "admin", "campaign.pause", "c1", None, None).unwrap(),
            3
        );
        let report = verify(&store, &[]);
        assert_eq!(report.findings, []);
        assert_eq!((report.entries, report.unlinked), (3, 2));
    }

    #[test]
    fn concurrent_appenders_make_one_unbroken_chain() {
        let store = MemoryStore::default();
        std::thread::scope(|scope| {
            for writer in 0..8 {
                let store = &store;
                scope.spawn(move || {
                    for i in 0..50 {
                        append(
                            store,
                            i,
                            "admin",
                            "campaign.pause",
                            &format!("w{writer}"),
                            None,
                            None,
                        )
                        .unwrap();
                    }
                });
            }
        });
        let report = verify(&store, &[]);
        assert_eq!(report.findings, []);
        assert_eq!(report.entries, 400);
    }

    #[test]
    fn an_entry_that_does_not_follow_the_head_stops_appends() {
        let store = log_of(2);
        let mut foreign = entry(&store, 2);
        foreign.seq = 3;
        foreign.prev = Some(GENESIS.into());
        put(&store, 3, &foreign);
        let error = append(&store, 10, "admin", "campaign.pause", "c1", None, None).unwrap_err();
        assert!(error.to_string().contains("sluice audit verify"), "{error}");
        assert_eq!(head(&store).unwrap().seq, 2, "nothing changed");
    }

    #[test]
    fn anchors_parse_as_verify_prints_them() {
        let digest = "ab".repeat(32);
        assert_eq!(
            format!("7:{digest}").parse::<Anchor>(),
            Ok(Anchor {
                seq: 7,
                digest: digest.clone()
            })
        );
        for bad in [
            "7",
            "x:00",
            "0:00",
            &format!("7:{}", "z".repeat(64)),
            "7:abc",
        ] {
            assert!(bad.parse::<Anchor>().is_err(), "{bad}");
        }
    }
}
