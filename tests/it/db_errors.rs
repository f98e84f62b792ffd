//! A database that is down or missing gets a plain message naming host and database, never the
//! password.

use portcullis::store::{DbUrl, Store};

fn open_err(url: &str) -> String {
    let u = DbUrl::parse(url).expect("url parses");
    match Store::open(&u, 1) {
        Ok(_) => panic!("{url} should not open"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn postgres_missing_database_names_host_and_db_not_password() {
    let e = open_err("postgresql://portcullis_test:Sup3rS3cretPw@127.0.0.1:5432/portcullis_no_such_db");
    assert!(e.contains("PostgreSQL database 'portcullis_no_such_db' on 127.0.0.1:5432"), "{e}");
    assert!(!e.contains("Sup3rS3cretPw"), "{e}");
}

#[test]
fn mysql_server_down_names_host_and_db_not_password() {
    // Nothing listens on port 9 of loopback.
    let e = open_err("mysql://root:Sup3rS3cretPw@127.0.0.1:9/somedb");
    assert!(e.contains("MySQL/MariaDB database 'somedb' on 127.0.0.1:9"), "{e}");
    assert!(!e.contains("Sup3rS3cretPw"), "{e}");
}

#[test]
fn postgres_server_down_names_host_and_db_not_password() {
    let e = open_err("postgres://u:Sup3rS3cretPw@127.0.0.1:9/otherdb");
    assert!(e.contains("PostgreSQL database 'otherdb' on 127.0.0.1:9"), "{e}");
    assert!(!e.contains("Sup3rS3cretPw"), "{e}");
}

#[test]
fn unsupported_scheme_is_explained() {
    let e = DbUrl::parse("oracle://x/y").unwrap_err().to_string();
    assert!(e.contains("unsupported database URL scheme 'oracle'"), "{e}");
}
