//! SQLite's query-planner stability guarantee (QPSG) on every SQLite connection of the process.
//!
//! The bundled SQLite plans a bound `LIMIT ?`/`OFFSET ?` by its value and marks the statement
//! to be re-prepared whenever that parameter is bound again (`sqlite3ExprIsInteger` sets the
//! statement's variable mask), so every cached list query was parsed and planned anew at each
//! execution. With QPSG the planner ignores bound values, and a cached statement stays
//! prepared. Nothing here plans by a bound value (there are no STAT4 statistics either).
//! SQLite has no PRAGMA for it and diesel exposes no raw handle, so it is set by an automatic
//! extension, which SQLite runs on each connection as it opens.

use std::ffi::{c_char, c_int};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use libsqlite3_sys as ffi;

/// Connections on which QPSG was switched on (for the test).
static ENABLED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn enable_qpsg(db: *mut ffi::sqlite3, _err: *mut *mut c_char, _api: *const ffi::sqlite3_api_routines) -> c_int {
    // SAFETY: SQLite calls this with the connection it is opening, valid for the call; the
    // QPSG option takes an int and an optional int* for the previous value.
    let rc = unsafe { ffi::sqlite3_db_config(db, ffi::SQLITE_DBCONFIG_ENABLE_QPSG, 1 as c_int, std::ptr::null_mut::<c_int>()) };
    if rc == ffi::SQLITE_OK {
        ENABLED.fetch_add(1, Ordering::Relaxed);
    }
    ffi::SQLITE_OK
}

/// Registers the extension once per process (before the first SQLite connection opens).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a function with the signature SQLite expects; it never unloads.
        unsafe { ffi::sqlite3_auto_extension(Some(enable_qpsg)) };
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::Connection;

    #[test]
    fn every_new_connection_gets_qpsg() {
        install();
        let before = ENABLED.load(Ordering::SeqCst);
        let _a = diesel::SqliteConnection::establish(":memory:").unwrap();
        let _b = diesel::SqliteConnection::establish(":memory:").unwrap();
        assert!(ENABLED.load(Ordering::SeqCst) >= before + 2, "the option was set on each connection");
    }
}
