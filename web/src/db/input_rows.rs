//! Many rows as the input of one statement: a FROM item `v` whose columns are `column1`,
//! `column2`, … (the names both backends give a VALUES list's columns).
//!
//! On PostgreSQL a few rows (the committer's batches) go as one JSON parameter,
//! `json_to_recordset($1::json) AS v(column1 int8, …)`: the statement's text, and so its
//! prepared statement and plan, is the same whatever the number of rows. A VALUES list of
//! each length was a statement of its own, prepared and planned anew in nearly every
//! transaction of the committer (~14 µs of PostgreSQL's CPU per changing update,
//! `bench/README.md`). Many rows (the check-in writer's) go as a VALUES list of bound
//! values, which PostgreSQL reads faster than JSON: its plan is then little beside them.
//! SQLite, in-process, always takes the VALUES list.

use std::fmt::Write as _;
use std::io::{self, Write};

use chrono::SecondsFormat;
use sea_orm::DbBackend;
use sea_orm::sea_query::Value;

use super::{DbError, DbResult};

/// Rows that PostgreSQL takes as JSON at most: a committer's batch.
const MOST_AS_JSON: usize = 256;

/// Rows of values, every row with the same kinds of value in the same order.
pub(super) struct InputRows<'r> {
    rows: &'r [Vec<Value>],
}

impl<'r> InputRows<'r> {
    pub(super) fn new(rows: &'r [Vec<Value>]) -> InputRows<'r> {
        InputRows { rows }
    }

    /// The FROM item, its placeholders from `$1` (PostgreSQL) or `?` (SQLite), and the
    /// values they stand for. There must be a row: neither backend has an empty one.
    pub(super) fn source(&self, backend: DbBackend) -> DbResult<(String, Vec<Value>)> {
        let postgres = backend == DbBackend::Postgres;
        if !postgres || self.rows.len() > MOST_AS_JSON {
            return Ok((self.values_list(postgres), self.rows.concat()));
        }
        let first = self.rows.first().map_or(&[][..], Vec::as_slice);
        let columns = first
            .iter()
            .enumerate()
            .map(|(i, value)| Ok(format!("column{} {}", i + 1, pg_type(value)?)))
            .collect::<DbResult<Vec<String>>>()?;
        // Written out directly: through `serde_json::Value`s, the check-in writer's
        // thousand-row batches cost a tenth of the process's CPU under `nochg`.
        let keys: Vec<String> = (1..=first.len())
            .map(|i| format!(r#""column{i}":"#))
            .collect();
        let mut json = Vec::with_capacity(self.rows.len() * first.len() * 16);
        json.push(b'[');
        for (r, row) in self.rows.iter().enumerate() {
            if r > 0 {
                json.push(b',');
            }
            json.push(b'{');
            for (i, (value, key)) in row.iter().zip(&keys).enumerate() {
                if i > 0 {
                    json.push(b',');
                }
                json.extend_from_slice(key.as_bytes());
                write_json(&mut json, value)?;
            }
            json.push(b'}');
        }
        json.push(b']');
        let json = String::from_utf8(json).map_err(|e| DbError::Malformed(e.to_string()))?;
        let source = format!("json_to_recordset($1::json) AS v({})", columns.join(", "));
        Ok((source, vec![Value::String(Some(json))]))
    }
}

impl InputRows<'_> {
    /// The rows' values in `column` (from 0) as a PostgreSQL array literal (`{1,2}`,
    /// `{"a","b"}`), and their type: keys for `= ANY($n::type[])`.
    pub(super) fn column_array(&self, column: usize) -> DbResult<(String, &'static str)> {
        let missing = || DbError::Malformed(format!("no input column {column}"));
        let first = self.rows.first().and_then(|row| row.get(column));
        let kind = pg_type(first.ok_or_else(missing)?)?;
        let mut array = String::from("{");
        for (r, row) in self.rows.iter().enumerate() {
            if r > 0 {
                array.push(',');
            }
            match row.get(column).ok_or_else(missing)? {
                Value::BigInt(Some(i)) => {
                    let _ = write!(array, "{i}");
                }
                Value::String(Some(text)) => {
                    array.push('"');
                    for c in text.chars() {
                        if c == '"' || c == '\\' {
                            array.push('\\');
                        }
                        array.push(c);
                    }
                    array.push('"');
                }
                other => return Err(unsupported(other)),
            }
        }
        array.push('}');
        Ok((array, kind))
    }

    /// `(VALUES ($1, $2), ($3, $4)) AS v`, or with `?`s: written into one string, as the
    /// check-in writer's thousands of placeholders per batch each formatted on their own
    /// were a thirtieth of the process's CPU under `nochg`.
    fn values_list(&self, postgres: bool) -> String {
        let width = self.rows.first().map_or(0, Vec::len);
        let mut sql = String::with_capacity(16 + self.rows.len() * width * 7);
        sql.push_str("(VALUES ");
        let mut n = 0;
        for (r, row) in self.rows.iter().enumerate() {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for i in 0..row.len() {
                n += 1;
                if i > 0 {
                    sql.push_str(", ");
                }
                if postgres {
                    // Writing to a String cannot fail.
                    let _ = write!(sql, "${n}");
                } else {
                    sql.push('?');
                }
            }
            sql.push(')');
        }
        sql.push_str(") AS v");
        sql
    }
}

/// The PostgreSQL type of a column of `value`s.
fn pg_type(value: &Value) -> DbResult<&'static str> {
    Ok(match value {
        Value::Bool(_) => "bool",
        Value::Int(_) => "int4",
        Value::BigInt(_) => "int8",
        Value::String(_) => "text",
        Value::ChronoDateTimeUtc(_) => "timestamptz",
        other => return Err(unsupported(other)),
    })
}

/// Appends `value` as JSON to `out`.
fn write_json(out: &mut Vec<u8>, value: &Value) -> DbResult<()> {
    let written = match value {
        Value::Bool(Some(b)) => out.write_all(if *b { b"true" } else { b"false" }),
        Value::Int(Some(i)) => write!(out, "{i}"),
        Value::BigInt(Some(i)) => write!(out, "{i}"),
        Value::String(Some(s)) => serde_json::to_writer(&mut *out, s).map_err(io::Error::other),
        Value::ChronoDateTimeUtc(Some(at)) => {
            write!(
                out,
                r#""{}""#,
                at.to_rfc3339_opts(SecondsFormat::Micros, true)
            )
        }
        Value::Bool(None)
        | Value::Int(None)
        | Value::BigInt(None)
        | Value::String(None)
        | Value::ChronoDateTimeUtc(None) => out.write_all(b"null"),
        other => return Err(unsupported(other)),
    };
    written.map_err(|e| DbError::Malformed(e.to_string()))
}

fn unsupported(value: &Value) -> DbError {
    DbError::Malformed(format!("no input column of values like {value:?}"))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn row(id: i64, name: Option<&str>) -> Vec<Value> {
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap();
        vec![id.into(), name.map(str::to_owned).into(), Some(at).into()]
    }

    #[test]
    fn postgres_reads_any_number_of_rows_with_one_text() {
        let one = InputRows::new(&[row(1, Some("a"))])
            .source(DbBackend::Postgres)
            .unwrap();
        let rows = [row(1, Some("a")), row(2, None), row(3, Some("c\"\n"))];
        let (source, values) = InputRows::new(&rows).source(DbBackend::Postgres).unwrap();
        assert_eq!(source, one.0);
        assert_eq!(
            source,
            "json_to_recordset($1::json) AS v(column1 int8, column2 text, column3 timestamptz)"
        );
        let [Value::String(Some(json))] = &values[..] else {
            panic!("one JSON text, not {values:?}");
        };
        let parsed: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            parsed[2],
            serde_json::json!({
                "column1": 3, "column2": "c\"\n", "column3": "2026-12-07T06:00:00.000000Z"
            })
        );
        assert_eq!(parsed[1]["column2"], serde_json::Value::Null);
    }

    #[test]
    fn postgres_reads_many_rows_as_a_values_list() {
        let rows: Vec<_> = (0..=MOST_AS_JSON as i64).map(|i| row(i, None)).collect();
        let (source, values) = InputRows::new(&rows).source(DbBackend::Postgres).unwrap();
        assert!(
            source.starts_with("(VALUES ($1, $2, $3), ($4, $5, $6), "),
            "{source}"
        );
        assert!(source.ends_with(", $771)) AS v"), "{source}");
        assert_eq!(values.len(), 3 * rows.len());
    }

    #[test]
    fn a_column_is_an_array_of_keys() {
        let rows = [row(1, Some("a.example")), row(22, Some(r#"q"u\o"#))];
        let ids = InputRows::new(&rows).column_array(0).unwrap();
        assert_eq!(ids, ("{1,22}".to_owned(), "int8"));
        let names = InputRows::new(&rows).column_array(1).unwrap();
        assert_eq!(names, (r#"{"a.example","q\"u\\o"}"#.to_owned(), "text"));
        // A key is never NULL, nor a kind of value without an array here.
        assert!(InputRows::new(&[row(1, None)]).column_array(1).is_err());
        assert!(InputRows::new(&rows).column_array(2).is_err());
    }

    #[test]
    fn sqlite_reads_a_values_list() {
        let rows = [row(1, Some("a")), row(2, None)];
        let (source, values) = InputRows::new(&rows).source(DbBackend::Sqlite).unwrap();
        assert_eq!(source, "(VALUES (?, ?, ?), (?, ?, ?)) AS v");
        assert_eq!(values.len(), 6);
    }
}
