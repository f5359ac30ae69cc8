//! State machines, their executions and the executions' histories.
//!
//! The history of an execution *is* its durable state: the engine (`gust-workflows`)
//! appends every transition's events in one commit before it starts the next, and
//! after a restart it rebuilds where each running execution was from those events
//! alone. Besides what `GetExecutionHistory` shows, each event row carries the
//! engine's own `step` (which visit of which state it belongs to) and `note` (what
//! the engine needs to resume: an outcome, a deadline), never shown to clients.
//!
//! # Call order
//! At start-up the engine calls [`WorkflowStore::running_executions`] once and
//! resumes each with [`WorkflowStore::events`]; afterwards calls come from any
//! thread, and every write for one execution comes from that execution's task.

use rusqlite::{params, OptionalExtension as _, Row, TransactionBehavior};

use crate::events::{insert_event, NewEvent};
use crate::sqlite::SqliteStore;
use crate::StoreError;

/// The schema step that adds state machines, executions and their events.
pub(crate) const MIGRATION: &str = "
    CREATE TABLE state_machines (
        arn         TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        kind        TEXT NOT NULL,       -- STANDARD or EXPRESS
        definition  TEXT NOT NULL,       -- byte for byte as given
        role_arn    TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        updated_ms  INTEGER NOT NULL,
        revision_id TEXT NOT NULL,
        extra       TEXT NOT NULL        -- JSON owned by gust-workflows (description, logging, tracing, tags)
    );
    CREATE TABLE executions (
        arn         TEXT PRIMARY KEY,
        machine_arn TEXT NOT NULL,
        name        TEXT NOT NULL,
        status      TEXT NOT NULL,       -- RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED
        input       TEXT NOT NULL,
        output      TEXT,
        error       TEXT,
        cause       TEXT,
        started_ms  INTEGER NOT NULL,
        stopped_ms  INTEGER,
        definition  TEXT NOT NULL,       -- the machine's definition when it started
        role_arn    TEXT NOT NULL,
        redrives    INTEGER NOT NULL DEFAULT 0,
        redriven_ms INTEGER,
        trace       TEXT
    );
    CREATE UNIQUE INDEX executions_by_machine ON executions (machine_arn, started_ms, name);
    CREATE INDEX executions_running ON executions (status) WHERE status = 'RUNNING';
    CREATE TABLE execution_events (
        execution   TEXT NOT NULL,
        id          INTEGER NOT NULL,
        previous    INTEGER NOT NULL,
        kind        TEXT NOT NULL,
        ms          INTEGER NOT NULL,
        details     TEXT,                -- JSON: the event's ...EventDetails
        step        TEXT,
        note        TEXT,
        PRIMARY KEY (execution, id)
    ) WITHOUT ROWID;
    CREATE TABLE task_tokens (
        token       TEXT PRIMARY KEY,
        execution   TEXT NOT NULL,
        step        TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    CREATE INDEX task_tokens_by_execution ON task_tokens (execution);
";

/// A state machine as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineRecord {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// `STANDARD` or `EXPRESS`.
    pub kind: String,
    /// The definition, byte for byte as the client sent it.
    pub definition: String,
    /// `roleArn` (gust has no IAM; kept and shown).
    pub role_arn: String,
    /// When it was created, epoch ms.
    pub created_ms: i64,
    /// When it was last updated, epoch ms.
    pub updated_ms: i64,
    /// Changes on every update.
    pub revision_id: String,
    /// Everything else, as JSON owned by gust-workflows.
    pub extra: String,
}

/// An execution as stored (its events apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRecord {
    /// Its ARN.
    pub arn: String,
    /// The state machine's ARN.
    pub machine_arn: String,
    /// Its name (unique per machine).
    pub name: String,
    /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED.
    pub status: String,
    /// Its input JSON.
    pub input: String,
    /// Its output JSON, once it succeeded.
    pub output: Option<String>,
    /// The error it failed with.
    pub error: Option<String>,
    /// The cause it failed with.
    pub cause: Option<String>,
    /// When it started, epoch ms.
    pub started_ms: i64,
    /// When it stopped, epoch ms.
    pub stopped_ms: Option<i64>,
    /// The definition it runs (the machine may be updated meanwhile).
    pub definition: String,
    /// The role it runs as.
    pub role_arn: String,
    /// How many times it was redriven.
    pub redrives: i64,
    /// When it was last redriven, epoch ms.
    pub redriven_ms: Option<i64>,
    /// The trace header it was started with, for loop detection in its tasks.
    pub trace: Option<String>,
}

/// One history event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// 1, 2, 3, ... within its execution.
    pub id: i64,
    /// The event it follows (0 for the first).
    pub previous: i64,
    /// Its type (`TaskStateEntered`, ...).
    pub kind: String,
    /// When, epoch ms.
    pub ms: i64,
    /// Its details JSON, if it has any.
    pub details: Option<String>,
    /// The engine's step it belongs to.
    pub step: Option<String>,
    /// The engine's note for resuming.
    pub note: Option<String>,
}

/// How an execution's row changes with the events appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionChange {
    /// It goes on.
    None,
    /// It ended: status, output or error and cause, and when.
    Stopped {
        /// SUCCEEDED, FAILED, TIMED_OUT or ABORTED.
        status: String,
        /// Its output (SUCCEEDED).
        output: Option<String>,
        /// Its error.
        error: Option<String>,
        /// Its cause.
        cause: Option<String>,
        /// When, epoch ms.
        stopped_ms: i64,
    },
}

/// State machines, executions and histories.
pub trait WorkflowStore: Send + Sync {
    /// Inserts a machine; [`StoreError::Conflict`] if the name is taken.
    fn create_machine(&self, m: &MachineRecord) -> Result<(), StoreError>;
    /// Replaces a machine's row if its revision is `expected_revision`.
    fn update_machine(&self, m: &MachineRecord, expected_revision: &str) -> Result<(), StoreError>;
    /// One machine.
    fn machine(&self, arn: &str) -> Result<Option<MachineRecord>, StoreError>;
    /// Every machine, by name.
    fn list_machines(&self) -> Result<Vec<MachineRecord>, StoreError>;
    /// Deletes a machine; its executions stay readable. `false` if there was none.
    fn delete_machine(&self, arn: &str) -> Result<bool, StoreError>;

    /// Inserts an execution together with its first events and `notify`, in one
    /// commit; returns the queued events' ids. [`StoreError::Conflict`] if the name
    /// is taken for its machine.
    fn start_execution(
        &self,
        e: &ExecutionRecord,
        events: &[EventRecord],
        notify: &[NewEvent],
    ) -> Result<Vec<i64>, StoreError>;
    /// One execution.
    fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>, StoreError>;
    /// A machine's executions, newest first, optionally of one status.
    fn list_executions(
        &self,
        machine_arn: &str,
        status: Option<&str>,
    ) -> Result<Vec<ExecutionRecord>, StoreError>;
    /// Every RUNNING execution (to resume at start).
    fn running_executions(&self) -> Result<Vec<ExecutionRecord>, StoreError>;
    /// Appends events, changes the execution's row and queues `notify` (status
    /// changes for a monitoring function) in one commit; returns the queued events'
    /// ids. Fails with [`StoreError::Conflict`] if the execution is no longer
    /// RUNNING (stopped meanwhile), so nothing is recorded after its end.
    fn append(
        &self,
        execution: &str,
        events: &[EventRecord],
        change: &ExecutionChange,
        notify: &[NewEvent],
    ) -> Result<Vec<i64>, StoreError>;
    /// Sets a stopped execution RUNNING again (RedriveExecution), appending
    /// `events`; [`StoreError::Conflict`] if it is RUNNING.
    fn redrive(&self, execution: &str, events: &[EventRecord], ms: i64) -> Result<(), StoreError>;
    /// An execution's events, in id order.
    fn events(&self, execution: &str) -> Result<Vec<EventRecord>, StoreError>;

    /// Records a task token for a step.
    fn put_token(
        &self,
        token: &str,
        execution: &str,
        step: &str,
        ms: i64,
    ) -> Result<(), StoreError>;
    /// The (execution, step) a token belongs to.
    fn token(&self, token: &str) -> Result<Option<(String, String)>, StoreError>;
    /// Forgets a token (its task ended).
    fn delete_token(&self, token: &str) -> Result<(), StoreError>;
}

const EXECUTION_COLUMNS: &str = "arn, machine_arn, name, status, input, output, error, cause, \
     started_ms, stopped_ms, definition, role_arn, redrives, redriven_ms, trace";

fn execution_row(r: &Row<'_>) -> rusqlite::Result<ExecutionRecord> {
    Ok(ExecutionRecord {
        arn: r.get(0)?,
        machine_arn: r.get(1)?,
        name: r.get(2)?,
        status: r.get(3)?,
        input: r.get(4)?,
        output: r.get(5)?,
        error: r.get(6)?,
        cause: r.get(7)?,
        started_ms: r.get(8)?,
        stopped_ms: r.get(9)?,
        definition: r.get(10)?,
        role_arn: r.get(11)?,
        redrives: r.get(12)?,
        redriven_ms: r.get(13)?,
        trace: r.get(14)?,
    })
}

fn machine_row(r: &Row<'_>) -> rusqlite::Result<MachineRecord> {
    Ok(MachineRecord {
        arn: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        definition: r.get(3)?,
        role_arn: r.get(4)?,
        created_ms: r.get(5)?,
        updated_ms: r.get(6)?,
        revision_id: r.get(7)?,
        extra: r.get(8)?,
    })
}

const MACHINE_COLUMNS: &str =
    "arn, name, kind, definition, role_arn, created_ms, updated_ms, revision_id, extra";

fn insert_events(
    tx: &rusqlite::Transaction<'_>,
    execution: &str,
    events: &[EventRecord],
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO execution_events (execution, id, previous, kind, ms, details, step, note) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in events {
        stmt.execute(params![
            execution, e.id, e.previous, e.kind, e.ms, e.details, e.step, e.note
        ])?;
    }
    Ok(())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

impl WorkflowStore for SqliteStore {
    fn create_machine(&self, m: &MachineRecord) -> Result<(), StoreError> {
        let conn = self.conn();
        let result = conn
            .prepare_cached(&format!(
                "INSERT INTO state_machines ({MACHINE_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?
            .execute(params![
                m.arn,
                m.name,
                m.kind,
                m.definition,
                m.role_arn,
                m.created_ms,
                m.updated_ms,
                m.revision_id,
                m.extra
            ]);
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "State Machine Already Exists: '{}'",
                m.arn
            ))),
            Err(e) => Err(e.into()),
        }
    }

    fn update_machine(&self, m: &MachineRecord, expected_revision: &str) -> Result<(), StoreError> {
        let conn = self.conn();
        let changed = conn
            .prepare_cached(
                "UPDATE state_machines SET definition = ?2, role_arn = ?3, updated_ms = ?4, \
                 revision_id = ?5, extra = ?6 WHERE arn = ?1 AND revision_id = ?7",
            )?
            .execute(params![
                m.arn,
                m.definition,
                m.role_arn,
                m.updated_ms,
                m.revision_id,
                m.extra,
                expected_revision
            ])?;
        if changed == 0 {
            return Err(StoreError::Conflict(format!(
                "the state machine {} changed meanwhile",
                m.arn
            )));
        }
        Ok(())
    }

    fn machine(&self, arn: &str) -> Result<Option<MachineRecord>, StoreError> {
        let conn = self.conn();
        let row = conn
            .prepare_cached(&format!(
                "SELECT {MACHINE_COLUMNS} FROM state_machines WHERE arn = ?1"
            ))?
            .query_row(params![arn], machine_row)
            .optional()?;
        Ok(row)
    }

    fn list_machines(&self) -> Result<Vec<MachineRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {MACHINE_COLUMNS} FROM state_machines ORDER BY name"
        ))?;
        let rows = stmt.query_map([], machine_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_machine(&self, arn: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn
            .prepare_cached("DELETE FROM state_machines WHERE arn = ?1")?
            .execute(params![arn])?;
        Ok(n > 0)
    }

    fn start_execution(
        &self,
        e: &ExecutionRecord,
        events: &[EventRecord],
        notify: &[NewEvent],
    ) -> Result<Vec<i64>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let taken: bool = tx
            .prepare_cached("SELECT 1 FROM executions WHERE machine_arn = ?1 AND name = ?2")?
            .query_row(params![e.machine_arn, e.name], |_| Ok(()))
            .optional()?
            .is_some();
        if taken {
            return Err(StoreError::Conflict(format!(
                "Execution Already Exists: '{}'",
                e.arn
            )));
        }
        tx.prepare_cached(&format!(
            "INSERT INTO executions ({EXECUTION_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
        ))?
        .execute(params![
            e.arn,
            e.machine_arn,
            e.name,
            e.status,
            e.input,
            e.output,
            e.error,
            e.cause,
            e.started_ms,
            e.stopped_ms,
            e.definition,
            e.role_arn,
            e.redrives,
            e.redriven_ms,
            e.trace
        ])?;
        insert_events(&tx, &e.arn, events)?;
        let ids = notify
            .iter()
            .map(|e| insert_event(&tx, e))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()?;
        Ok(ids)
    }

    fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        let conn = self.conn();
        let row = conn
            .prepare_cached(&format!(
                "SELECT {EXECUTION_COLUMNS} FROM executions WHERE arn = ?1"
            ))?
            .query_row(params![arn], execution_row)
            .optional()?;
        Ok(row)
    }

    fn list_executions(
        &self,
        machine_arn: &str,
        status: Option<&str>,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE machine_arn = ?1 \
             AND (?2 IS NULL OR status = ?2) ORDER BY started_ms DESC, name DESC"
        ))?;
        let rows = stmt.query_map(params![machine_arn, status], execution_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn running_executions(&self) -> Result<Vec<ExecutionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE status = 'RUNNING' \
             ORDER BY started_ms"
        ))?;
        let rows = stmt.query_map([], execution_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn append(
        &self,
        execution: &str,
        events: &[EventRecord],
        change: &ExecutionChange,
        notify: &[NewEvent],
    ) -> Result<Vec<i64>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let status: Option<String> = tx
            .prepare_cached("SELECT status FROM executions WHERE arn = ?1")?
            .query_row(params![execution], |r| r.get(0))
            .optional()?;
        if status.as_deref() != Some("RUNNING") {
            return Err(StoreError::Conflict(format!(
                "the execution {execution} is not running"
            )));
        }
        insert_events(&tx, execution, events)?;
        if let ExecutionChange::Stopped {
            status,
            output,
            error,
            cause,
            stopped_ms,
        } = change
        {
            tx.prepare_cached(
                "UPDATE executions SET status = ?2, output = ?3, error = ?4, cause = ?5, \
                 stopped_ms = ?6 WHERE arn = ?1",
            )?
            .execute(params![execution, status, output, error, cause, stopped_ms])?;
            tx.prepare_cached("DELETE FROM task_tokens WHERE execution = ?1")?
                .execute(params![execution])?;
        }
        let ids = notify
            .iter()
            .map(|e| insert_event(&tx, e))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()?;
        Ok(ids)
    }

    fn redrive(&self, execution: &str, events: &[EventRecord], ms: i64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = tx
            .prepare_cached(
                "UPDATE executions SET status = 'RUNNING', output = NULL, error = NULL, \
                 cause = NULL, stopped_ms = NULL, redrives = redrives + 1, redriven_ms = ?2 \
                 WHERE arn = ?1 AND status <> 'RUNNING'",
            )?
            .execute(params![execution, ms])?;
        if changed == 0 {
            return Err(StoreError::Conflict(format!(
                "the execution {execution} is running"
            )));
        }
        insert_events(&tx, execution, events)?;
        tx.commit()?;
        Ok(())
    }

    fn events(&self, execution: &str) -> Result<Vec<EventRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, previous, kind, ms, details, step, note FROM execution_events \
             WHERE execution = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![execution], |r| {
            Ok(EventRecord {
                id: r.get(0)?,
                previous: r.get(1)?,
                kind: r.get(2)?,
                ms: r.get(3)?,
                details: r.get(4)?,
                step: r.get(5)?,
                note: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn put_token(
        &self,
        token: &str,
        execution: &str,
        step: &str,
        ms: i64,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT OR REPLACE INTO task_tokens (token, execution, step, created_ms) \
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![token, execution, step, ms])?;
        Ok(())
    }

    fn token(&self, token: &str) -> Result<Option<(String, String)>, StoreError> {
        let conn = self.conn();
        let row = conn
            .prepare_cached("SELECT execution, step FROM task_tokens WHERE token = ?1")?
            .query_row(params![token], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(row)
    }

    fn delete_token(&self, token: &str) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.prepare_cached("DELETE FROM task_tokens WHERE token = ?1")?
            .execute(params![token])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
