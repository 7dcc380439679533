//! `skybox.sqlite`: an embedded SQL store for Lua services, run on the blocking pool so that no
//! worker waits for the disk.
//!
//! `batch(path, { { sql, arg... }, ... })` runs every statement in one transaction (all or
//! nothing) on the database file `path` and answers, like the other `skybox.blocking` jobs, as
//! the reply to the returned session: a table of results, one per statement (a table of rows,
//! each a table of column values), or `nil, message` when any statement fails (and nothing of
//! the batch stays). Arguments and values are integers, floats, strings (text or blobs) and
//! nil. Connections are opened once per path and kept (WAL journal, `synchronous = FULL`: a batch
//! that answered survives a crash of the process or the machine).
//!
//! Only a trusted service gets it (it opens any path): an untrusted one finds no such module.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use mlua::{Integer, Lua, Table, Value};
use parking_lot::Mutex;
use rusqlite::Connection;
use rusqlite::types::{Value as Sql, ValueRef};
use skybox_sdk::codec::{self, Table as WireTable, Value as Wire};

use super::core_api::guarded;
use crate::core::node::Node;
use crate::core::service::Service;

/// Open connections by path. A connection serves one batch at a time (its lock); batches on
/// different files run in parallel on the pool.
static CONNECTIONS: LazyLock<Mutex<HashMap<String, Arc<Mutex<Connection>>>>> =
    LazyLock::new(Default::default);

fn connection(path: &str) -> rusqlite::Result<Arc<Mutex<Connection>>> {
    let mut open = CONNECTIONS.lock();
    if let Some(c) = open.get(path) {
        return Ok(c.clone());
    }
    let c = Connection::open(path)?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "FULL")?;
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    let c = Arc::new(Mutex::new(c));
    open.insert(path.to_string(), c.clone());
    Ok(c)
}

/// One statement of a batch: its text and arguments.
type Statement = (String, Vec<Sql>);

fn to_sql(value: Value) -> mlua::Result<Sql> {
    Ok(match value {
        Value::Nil => Sql::Null,
        Value::Boolean(b) => Sql::Integer(i64::from(b)),
        Value::Integer(i) => Sql::Integer(i),
        Value::Number(n) => Sql::Real(n),
        Value::String(s) => match std::str::from_utf8(&s.as_bytes()) {
            Ok(text) => Sql::Text(text.to_string()),
            Err(_) => Sql::Blob(s.as_bytes().to_vec()),
        },
        other => return Err(mlua::Error::runtime(format!("sqlite: cannot bind a {}", other.type_name()))),
    })
}

fn to_wire(value: ValueRef<'_>) -> Wire {
    match value {
        ValueRef::Null => Wire::Nil,
        ValueRef::Integer(i) => Wire::Integer(i),
        ValueRef::Real(f) => Wire::Real(f),
        ValueRef::Text(t) | ValueRef::Blob(t) => Wire::String(t.to_vec()),
    }
}

/// Runs `batch` in one transaction; the results of its statements, in order.
fn run(path: &str, batch: &[Statement]) -> rusqlite::Result<Vec<Wire>> {
    let connection = connection(path)?;
    let mut c = connection.lock();
    let tx = c.transaction()?;
    let mut results = Vec::with_capacity(batch.len());
    for (sql, args) in batch {
        let mut statement = tx.prepare_cached(sql)?;
        let columns = statement.column_count();
        let mut rows = statement.query(rusqlite::params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values =
                (0..columns).map(|i| row.get_ref(i).map(to_wire)).collect::<rusqlite::Result<Vec<_>>>()?;
            out.push(Wire::Table(WireTable::from_array(values)));
        }
        results.push(Wire::Table(WireTable::from_array(out)));
    }
    tx.commit()?;
    Ok(results)
}

/// Builds the module's table (`core_api` wraps it to raise on errors).
pub(crate) fn table(lua: &Lua, node: &Arc<Node>, service: &Arc<Service>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let (node, service) = (node.clone(), service.clone());
    t.set(
        "batch",
        guarded(lua, move |_, (path, statements): (String, Table)| {
            let mut batch: Vec<Statement> = Vec::new();
            for statement in statements.sequence_values::<Table>() {
                let statement = statement?;
                let sql: String = statement.get(1)?;
                let args = (2..=statement.raw_len())
                    .map(|i| statement.raw_get::<Value>(i).and_then(to_sql))
                    .collect::<mlua::Result<Vec<_>>>()?;
                batch.push((sql, args));
            }
            let session = service.new_session();
            node.run_blocking(
                service.handle(),
                session,
                Box::new(move || {
                    let values = match run(&path, &batch) {
                        Ok(results) => vec![Wire::Table(WireTable::from_array(results))],
                        Err(e) => vec![Wire::Nil, Wire::from(format!("sqlite {path}: {e}"))],
                    };
                    codec::encode(&values).unwrap_or_default()
                }),
            )
            .map_err(|e| mlua::Error::runtime(format!("{e:#}")))?;
            Ok(session as Integer)
        })?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_one_transaction() {
        let dir = std::env::temp_dir().join(format!("skybox-sqlite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db").display().to_string();
        let ok = run(
            &path,
            &[
                ("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER)".into(), vec![]),
                ("INSERT INTO t VALUES (?1, ?2)".into(), vec![Sql::Text("a".into()), Sql::Integer(1)]),
                ("SELECT k, v FROM t".into(), vec![]),
            ],
        )
        .unwrap();
        assert_eq!(ok.len(), 3);
        // A failing statement undoes the batch's earlier ones.
        let err = run(
            &path,
            &[
                ("INSERT INTO t VALUES ('b', 2)".into(), vec![]),
                ("INSERT INTO t VALUES ('a', 3)".into(), vec![]),
            ],
        );
        assert!(err.is_err());
        let rows = run(&path, &[("SELECT count(*) FROM t".into(), vec![])]).unwrap();
        let Wire::Table(rows) = &rows[0] else { panic!() };
        assert_eq!(
            codec::encode(&[Wire::Table(rows.clone())]).unwrap(),
            codec::encode(&[Wire::Table(WireTable::from_array(vec![Wire::Table(WireTable::from_array(
                vec![Wire::Integer(1)]
            ))]))])
            .unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
