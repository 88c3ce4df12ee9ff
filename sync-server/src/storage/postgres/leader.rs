//! Jobs that must run on one relay at a time (the recommendation recount): the relay that
//! holds an advisory lock of the shared database, on a connection of its own, runs them. The
//! database releases the lock when that connection ends, so when its relay dies another one
//! takes over at its next attempt; a leader whose connection broke learns it when it records
//! its next run, and stops leading.

use std::sync::Mutex;

use super::database::{self, Client, now_ms};

/// The jobs' advisory lock key ("AISL" and 2).
const JOBS_LOCK: i64 = 0x4149_534c_0002;

pub struct Leadership {
    database: database::Database,
    /// Who this relay is in `job_runs` (its process and a random part).
    pub holder: String,
    /// The connection holding the lock, while this relay leads.
    held: Mutex<Option<Client>>,
}

/// Whether a job ran here.
#[derive(Debug, PartialEq, Eq)]
pub enum JobRun {
    Ran,
    /// Another relay leads.
    Elsewhere,
}

impl Leadership {
    pub fn new(database: database::Database) -> Self {
        use rand::Rng;
        let tag: u32 = rand::rng().random();
        Self {
            database,
            holder: format!("pid {} ({tag:08x})", std::process::id()),
            held: Mutex::new(None),
        }
    }

    /// The lock's connection, if held, for the caller to close (and so release the lock).
    pub fn release(&self) -> Option<Client> {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Runs `job` if this relay leads (taking the lead if nobody holds it).
    pub fn run(
        &self,
        job: &str,
        f: &mut dyn FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<JobRun> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_none() {
            let mut client = self.database.connect()?;
            let got: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&JOBS_LOCK])?
                .get(0);
            if !got {
                return Ok(JobRun::Elsewhere);
            }
            tracing::info!(holder = %self.holder, "this relay now runs the chain's jobs");
            *held = Some(client);
        }
        let Some(client) = held.as_mut() else {
            return Ok(JobRun::Elsewhere);
        };
        // Recorded on the lock's own connection: if it broke, the lock may be another's now.
        let run: i64 = match client.query_one(
            "INSERT INTO job_runs (job, holder, started_at) VALUES ($1, $2, $3) RETURNING id",
            &[&job, &self.holder, &now_ms()],
        ) {
            Ok(row) => row.get(0),
            Err(e) => {
                tracing::warn!("lost the jobs' lock: {e}");
                *held = None;
                return Ok(JobRun::Elsewhere);
            }
        };
        let outcome = f();
        if let Err(e) = client.execute(
            "UPDATE job_runs SET ended_at = $2 WHERE id = $1",
            &[&run, &now_ms()],
        ) {
            tracing::warn!("lost the jobs' lock during {job}: {e}");
            *held = None;
        }
        outcome.map(|()| JobRun::Ran)
    }
}
