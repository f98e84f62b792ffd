//! Reading a Barbican deployment: its barbican.conf (database URL, simple_crypto KEKs) and its
//! database, read only, through diesel `sql_query` on whichever backend the URL names.
//!
//! Every column is read as text (`CAST(.. AS TEXT|CHAR)`), so one row type serves the three
//! dialects; booleans, numbers and times are parsed here.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::sql_types::{Nullable, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl};
use zeroize::Zeroizing;

use crate::store::{Backend, DbConn, DbUrl};

/// What the importer needs from barbican.conf.
pub struct BarbicanConf {
    pub connection: Option<String>,
    /// `[simple_crypto_plugin] kek`, every occurrence in order (MultiFernet since 2025.1).
    pub keks: Vec<Zeroizing<String>>,
}

/// Reads the `[database] connection` and every `[simple_crypto_plugin] kek` of an oslo.config
/// INI file (repeated keys are a MultiStrOpt's values).
pub fn read_conf(path: &Path) -> Result<BarbicanConf, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    );
    let mut section = String::new();
    let mut conf = BarbicanConf { connection: None, keks: Vec::new() };
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if l.starts_with('[') && l.ends_with(']') {
            section = l[1..l.len() - 1].trim().to_ascii_lowercase();
            continue;
        }
        let Some((k, v)) = l.split_once('=') else { continue };
        let (k, v) = (k.trim(), v.trim());
        match (section.as_str(), k) {
            ("database", "connection") | ("database", "sql_connection") => conf.connection = Some(v.to_string()),
            ("simple_crypto_plugin", "kek") => {
                // oslo.config accepts a quoted value.
                let v = v.trim_matches(|c| c == '"' || c == '\'');
                if !v.is_empty() {
                    conf.keks.push(Zeroizing::new(v.to_string()));
                }
            }
            _ => {}
        }
    }
    Ok(conf)
}

/// A SQLAlchemy URL as Barbican writes it, turned into one our drivers open.
fn driver_url(sqlalchemy: &str) -> Result<(DbUrl, String), String> {
    let raw = sqlalchemy.trim();
    let (scheme, rest) = raw.split_once("://").ok_or("the Barbican database URL has no scheme")?;
    let base = scheme.split('+').next().unwrap_or("").to_ascii_lowercase();
    if base == "sqlite" {
        // sqlite:///relative/path, sqlite:////absolute/path
        let path = rest.strip_prefix('/').unwrap_or(rest);
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || !Path::new(path).is_file() {
            return Err(format!("the Barbican SQLite database {path:?} does not exist"));
        }
        let url = DbUrl::parse(&format!("sqlite://file:{path}?mode=ro")).map_err(|e| e.to_string())?;
        return Ok((url, format!("SQLite database at {path}")));
    }
    // Drop the SQLAlchemy driver options (charset=…, plugin=…); keep what our drivers know.
    let (head, query) = rest.split_once('?').unwrap_or((rest, ""));
    let keep: Vec<&str> = query
        .split('&')
        .filter(|p| ["sslmode=", "ssl_mode=", "unix_socket="].iter().any(|k| p.starts_with(k)))
        .collect();
    let q = if keep.is_empty() { String::new() } else { format!("?{}", keep.join("&")) };
    let url = DbUrl::parse(&format!("{base}://{head}{q}")).map_err(|e| e.to_string())?;
    let display = url.display.clone();
    Ok((url, display))
}

#[derive(QueryableByName)]
struct Row16 {
    #[diesel(sql_type = Nullable<Text>)] c0: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c2: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c3: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c4: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c5: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c6: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c7: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c8: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c9: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c10: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c11: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c12: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c13: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c14: Option<String>,
    #[diesel(sql_type = Nullable<Text>)] c15: Option<String>,
}

const WIDTH: usize = 16;

/// One row read from Barbican: its columns as text, in the order asked.
pub struct Row(Vec<Option<String>>);

impl Row {
    pub fn s(&self, i: usize) -> Option<String> {
        self.0.get(i).cloned().flatten()
    }
    pub fn req(&self, i: usize) -> String {
        self.s(i).unwrap_or_default()
    }
    pub fn flag(&self, i: usize) -> bool {
        matches!(self.0.get(i).and_then(|v| v.as_deref()), Some("1" | "true" | "t" | "True" | "TRUE"))
    }
    pub fn int(&self, i: usize) -> Option<i32> {
        self.0.get(i).and_then(|v| v.as_deref()).and_then(|v| v.trim().parse().ok())
    }
    /// A Barbican time (naive UTC) as microseconds since the epoch.
    pub fn time(&self, i: usize) -> Option<i64> {
        let v = self.0.get(i)?.as_deref()?.trim();
        let v = v.split('+').next().unwrap_or(v).trim_end_matches('Z');
        ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"]
            .iter()
            .find_map(|f| chrono::NaiveDateTime::parse_from_str(v, f).ok())
            .map(crate::store::to_micros)
    }
}

/// A read-only connection to Barbican's database.
pub struct Source {
    conn: DbConn,
    backend: Backend,
    pub display: String,
}

impl Source {
    pub fn open(sqlalchemy_url: &str) -> Result<Source, String> {
        let (url, display) = driver_url(sqlalchemy_url)?;
        let mut conn = url.establish().map_err(|e| e.to_string())?;
        let ro = match url.backend {
            Backend::Sqlite => "PRAGMA query_only = ON",
            Backend::Postgres => "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            Backend::Mysql => "SET SESSION TRANSACTION READ ONLY",
        };
        conn.batch_execute(ro).map_err(|e| format!("cannot open the {display} read-only: {e}"))?;
        Ok(Source { conn, backend: url.backend, display })
    }

    fn quote(&self, col: &str) -> String {
        match self.backend {
            Backend::Mysql => format!("`{col}`"),
            _ => format!("\"{col}\""),
        }
    }

    /// `SELECT cols FROM table [WHERE …]`; a column written `x.col` is qualified.
    pub fn rows(&mut self, table: &str, cols: &[&str], tail: &str) -> Result<Vec<Row>, String> {
        assert!(cols.len() <= WIDTH, "at most {WIDTH} columns");
        let ty = if self.backend == Backend::Mysql { "CHAR" } else { "TEXT" };
        let mut sel = Vec::with_capacity(WIDTH);
        for i in 0..WIDTH {
            let expr = match cols.get(i) {
                Some(c) => match c.split_once('.') {
                    Some((t, c)) => format!("{}.{}", t, self.quote(c)),
                    None => self.quote(c),
                },
                None => "NULL".to_string(),
            };
            sel.push(format!("CAST({expr} AS {ty}) AS c{i}"));
        }
        let sql = format!("SELECT {} FROM {table} {tail}", sel.join(", "));
        let res = match &mut self.conn {
            DbConn::Sqlite(c) => diesel::sql_query(&sql).load::<Row16>(c),
            DbConn::Postgres(c) => diesel::sql_query(&sql).load::<Row16>(c),
            DbConn::Mysql(c) => diesel::sql_query(&sql).load::<Row16>(c),
        };
        let rows = res.map_err(|e| format!("reading Barbican's {table} from the {}: {e}", self.display))?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut v = vec![r.c0, r.c1, r.c2, r.c3, r.c4, r.c5, r.c6, r.c7, r.c8, r.c9, r.c10, r.c11, r.c12, r.c13, r.c14, r.c15];
                v.truncate(cols.len());
                Row(v)
            })
            .collect())
    }

    /// Whether a table exists (older schemas lack some, e.g. secret_consumer_metadata).
    pub fn has_table(&mut self, table: &str) -> bool {
        let sql = format!("SELECT 1 FROM {table} WHERE 1 = 0");
        match &mut self.conn {
            DbConn::Sqlite(c) => c.batch_execute(&sql).is_ok(),
            DbConn::Postgres(c) => c.transaction(|c| c.batch_execute(&sql)).is_ok(),
            DbConn::Mysql(c) => c.batch_execute(&sql).is_ok(),
        }
    }
}

/// Barbican's text columns hold base64; through psycopg2 without an adapter they may hold the
/// bytea text form `\x…` of that base64 (see the design notes): undo that first.
pub fn column_bytes(v: &str) -> Vec<u8> {
    let v = v.trim();
    if let Some(hex) = v.strip_prefix("\\x") {
        let bytes: Option<Vec<u8>> =
            (0..hex.len() / 2).map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect();
        if let Some(b) = bytes {
            return b;
        }
    }
    v.as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_reads_connection_and_every_kek() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("barbican.conf");
        std::fs::write(
            &p,
            "[DEFAULT]\nhost_href = http://x\n[database]\nconnection = sqlite:////tmp/b.db\n\
             [simple_crypto_plugin]\n# comment\nkek = AAAA\nkek = 'BBBB'\n[other]\nkek = CCCC\n",
        )
        .unwrap();
        let c = read_conf(&p).unwrap();
        assert_eq!(c.connection.as_deref(), Some("sqlite:////tmp/b.db"));
        let keks: Vec<&str> = c.keks.iter().map(|k| k.as_str()).collect();
        assert_eq!(keks, ["AAAA", "BBBB"]);
    }

    #[test]
    fn sqlalchemy_urls() {
        let (u, _) = driver_url("postgresql+psycopg2://u:p@127.0.0.1:5432/b?sslmode=disable&client_encoding=utf8").unwrap();
        assert_eq!(u.backend, Backend::Postgres);
        assert!(u.driver_url.ends_with("/b?sslmode=disable"), "{}", u.driver_url);
        let (u, _) = driver_url("mysql+pymysql://u:p@127.0.0.1/b?charset=utf8").unwrap();
        assert_eq!(u.backend, Backend::Mysql);
        assert!(!u.driver_url.contains("charset"));
        assert!(driver_url("sqlite:////nonexistent/b.db").unwrap_err().contains("does not exist"));
        assert_eq!(column_bytes("\\x6741"), b"gA");
        assert_eq!(column_bytes("gA=="), b"gA==");
    }

    #[test]
    fn times_parse_in_every_dialect() {
        let r = Row(vec![Some("2026-12-02 02:45:00.123456".into()), Some("2026-12-02 02:45:00".into()), None]);
        assert_eq!(r.time(0).unwrap() - r.time(1).unwrap(), 123_456);
        assert_eq!(r.time(2), None);
    }
}
