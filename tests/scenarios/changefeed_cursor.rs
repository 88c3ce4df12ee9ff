//! Why a sequence number is not a safe changefeed cursor once several relays write to one
//! PostgreSQL, and the commit horizon that is: on a real PostgreSQL 15 started by the test,
//! a transaction that took an earlier number is held open while a later one commits. A
//! reader following the sequence advances past the open one and never delivers its change;
//! a reader that orders by the writing transaction's id and reads only below the oldest
//! transaction still running (`pg_snapshot_xmin(pg_current_snapshot())`) waits, then
//! delivers both, in commit-safe order. This is the design the PostgreSQL backend's
//! changefeed follows (docs/sync.md, "A changefeed cursor with no gaps").

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_tests::postgres::Postgres;
use std::time::{Duration, Instant};

/// Rows after `cursor` in sequence order: (seq, doc).
fn by_sequence(pg: &Postgres, cursor: i64) -> Vec<(i64, String)> {
    rows(
        pg,
        &format!("SELECT seq, doc FROM feed WHERE seq > {cursor} ORDER BY seq"),
    )
}

/// Rows after `(xid, seq)` that no running transaction can still add to, in the order of
/// the transactions that wrote them: (xid, seq, doc).
fn below_horizon(pg: &Postgres, cursor: (i64, i64)) -> Vec<(i64, i64, String)> {
    pg.sql(&format!(
        "SELECT xid::text::bigint, seq, doc FROM feed
          WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
            AND (xid::text::bigint, seq) > ({}, {})
          ORDER BY xid, seq",
        cursor.0, cursor.1
    ))
    .unwrap()
    .lines()
    .filter(|l| !l.is_empty())
    .map(|l| {
        let mut fields = l.split('|');
        let xid = fields.next().unwrap().parse().unwrap();
        let seq = fields.next().unwrap().parse().unwrap();
        (xid, seq, fields.next().unwrap().to_string())
    })
    .collect()
}

fn rows(pg: &Postgres, sql: &str) -> Vec<(i64, String)> {
    pg.sql(sql)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (seq, doc) = l.split_once('|').unwrap();
            (seq.parse().unwrap(), doc.to_string())
        })
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_sequence_cursor_skips_a_slow_transaction_and_the_commit_horizon_does_not() {
    let pg = Postgres::start().expect("PostgreSQL 15 starts (apt install postgresql-15)");
    pg.sql(
        "CREATE TABLE feed (
            seq bigserial PRIMARY KEY,
            xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            doc text NOT NULL
         )",
    )
    .unwrap();

    // Relay A's transaction takes the first number and is slow to commit.
    let mut slow = pg.session().unwrap();
    slow.send("BEGIN; INSERT INTO feed (doc) VALUES ('customer/a');")
        .unwrap();
    wait_until("the slow transaction to have written", || {
        pg.sql("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'")
            .unwrap()
            == "1"
    });
    // Relay B's takes the next and commits at once.
    pg.sql("INSERT INTO feed (doc) VALUES ('customer/b')")
        .unwrap();

    // A tablet's relay reads the feed now.
    let seen = by_sequence(&pg, 0);
    assert_eq!(seen, vec![(2, "customer/b".to_string())]);
    let sequence_cursor = seen.last().unwrap().0;
    let horizon_seen = below_horizon(&pg, (0, 0));
    assert!(
        horizon_seen.is_empty(),
        "nothing is delivered while an older transaction may still add to the feed: {horizon_seen:?}"
    );

    // Relay A commits.
    slow.send("COMMIT;").unwrap();
    slow.finish().unwrap();

    // The sequence reader never sees customer/a: it is behind its cursor.
    let after = by_sequence(&pg, sequence_cursor);
    let delivered_by_sequence: Vec<String> =
        seen.into_iter().chain(after).map(|(_, doc)| doc).collect();
    assert_eq!(
        delivered_by_sequence,
        vec!["customer/b".to_string()],
        "a plain sequence cursor loses the slow transaction's change"
    );

    // The horizon reader delivers both, each once, in the order of their transactions.
    let delivered = below_horizon(&pg, (0, 0));
    let docs: Vec<&str> = delivered.iter().map(|(_, _, d)| d.as_str()).collect();
    assert_eq!(docs, vec!["customer/a", "customer/b"]);
    let cursor = delivered.last().map(|(xid, seq, _)| (*xid, *seq)).unwrap();
    assert!(below_horizon(&pg, cursor).is_empty(), "nothing twice");
}

#[test]
fn the_cluster_has_what_the_backend_needs() {
    let pg = Postgres::start().unwrap();
    // Trigram indexes stand in for SQLite's FTS5 prefix search.
    pg.sql("CREATE EXTENSION pg_trgm").unwrap();
    assert!(
        pg.sql("SHOW server_version_num").unwrap().as_str() >= "150000",
        "PostgreSQL 15 or later"
    );
    assert!(pg.data_dir().exists());
}
