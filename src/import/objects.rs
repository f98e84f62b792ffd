//! Everything but the secrets themselves: metadata, consumers, containers and their links,
//! ACLs and their users, orders, quotas, secret stores and preferences, transport keys.
//! Rows are copied with their ids and times; what is already here (by id) is left alone.

use std::collections::HashSet;

use super::barbican_db::Row;
use super::Ctx;
use crate::model::Container;
use crate::store::imported::{self, Table};
use crate::store::orders::OrderRow;
use crate::store::from_micros;

type R<T> = Result<T, String>;

/// Rows of a Barbican table not yet here, after `keep` sorted out the skipped ones (it
/// returns a reason to skip, or None to import).
fn missing(
    ctx: &mut Ctx,
    kind: &'static str,
    table: &str,
    cols: &[&str],
    here: Table,
    mut keep: impl FnMut(&Ctx, &Row) -> Option<String>,
) -> R<Vec<Row>> {
    if !ctx.src.has_table(table) {
        return Ok(Vec::new());
    }
    let present = ctx.existing(here)?;
    let mut out = Vec::new();
    for r in ctx.src.rows(table, cols, "ORDER BY created_at")? {
        if let Some(why) = keep(ctx, &r) {
            ctx.report.skip(kind, why);
        } else if present.contains(&r.req(0)) {
            ctx.report.of(kind).already += 1;
        } else {
            out.push(r);
        }
    }
    Ok(out)
}

fn deleted_at(r: &Row, at: usize, flag: usize, updated: usize) -> Option<i64> {
    r.flag(flag).then(|| r.time(at).or(r.time(updated)).unwrap_or_default())
}

const LEFT: &str = "its secret was not imported";
const CLEFT: &str = "its container was not imported";

pub(super) fn import(ctx: &mut Ctx) -> R<()> {
    metadata(ctx)?;
    secret_consumers(ctx)?;
    containers(ctx)?;
    acls(ctx, "secret")?;
    acls(ctx, "container")?;
    orders(ctx)?;
    quotas(ctx)?;
    stores(ctx)?;
    transport_keys(ctx)
}

fn metadata(ctx: &mut Ctx) -> R<()> {
    let deleted: HashSet<String> = ctx
        .src
        .rows("secrets", &["id", "deleted"], "")?
        .into_iter()
        .filter(|r| r.flag(1))
        .map(|r| r.req(0))
        .collect();
    let cols = ["id", "secret_id", "key", "value", "created_at", "updated_at", "deleted"];
    let rows = missing(ctx, "secret metadata", "secret_user_metadata", &cols, Table::SecretMetadata, |ctx, r| {
        if r.flag(6) {
            Some("deleted in Barbican (Portcullis keeps no deleted metadata)".into())
        } else if ctx.secrets_left.contains(&r.req(1)) {
            Some(LEFT.into())
        } else if deleted.contains(&r.req(1)) {
            Some("its secret is deleted (Portcullis drops a deleted secret's metadata)".into())
        } else {
            None
        }
    })?;
    ctx.write("secret metadata", &rows, |c, r| {
        let (cr, up) = (r.time(4).unwrap_or_default(), r.time(5).unwrap_or_default());
        imported::metadatum(c, &r.req(0), &r.req(1), &r.req(2), &r.req(3), cr, up)
    })
}

fn secret_consumers(ctx: &mut Ctx) -> R<()> {
    let cols = [
        "id", "secret_id", "project_id", "service", "resource_type", "resource_id", "created_at", "updated_at", "deleted_at", "deleted",
    ];
    let rows = missing(ctx, "secret consumers", "secret_consumer_metadata", &cols, Table::SecretConsumers, |ctx, r| {
        ctx.secrets_left.contains(&r.req(1)).then(|| LEFT.into())
    })?;
    let rows: Vec<(Row, Option<String>)> = rows.into_iter().map(|r| { let p = ctx.project(&r.req(2)); (r, p) }).collect();
    ctx.write("secret consumers", &rows, |c, (r, p)| {
        let up = r.time(7).unwrap_or_default();
        imported::secret_consumer(
            c,
            &r.req(0),
            &r.req(1),
            p.as_deref(),
            (&r.req(3), &r.req(4), &r.req(5)),
            r.time(6).unwrap_or(up),
            up,
            deleted_at(r, 8, 9, 7),
        )
    })
}

fn containers(ctx: &mut Ctx) -> R<()> {
    let cols = ["id", "project_id", "name", "type", "creator_id", "status", "created_at", "updated_at", "deleted_at", "deleted"];
    let mut skipped = HashSet::new();
    let rows = missing(ctx, "containers", "containers", &cols, Table::Containers, |ctx, r| {
        let why = ctx.project(&r.req(1)).is_none().then(|| "its Barbican project row is missing".to_string());
        if why.is_some() {
            skipped.insert(r.req(0));
        }
        why
    })?;
    let items: Vec<(Container, Option<i64>)> = rows
        .iter()
        .map(|r| {
            let up = r.time(7).unwrap_or_default();
            let c = Container {
                id: r.req(0),
                project_id: ctx.project(&r.req(1)).unwrap_or_default(),
                name: r.s(2),
                container_type: r.s(3).unwrap_or_else(|| "generic".into()),
                creator_id: r.s(4),
                status: r.s(5).unwrap_or_else(|| "ACTIVE".into()),
                created_at: from_micros(r.time(6).unwrap_or(up)),
                updated_at: from_micros(up),
            };
            (c, deleted_at(r, 8, 9, 7))
        })
        .collect();
    ctx.write("containers", &items, imported::container)?;
    // Containers not brought over (skipped; failed, unless this is a dry run) leave their
    // links, consumers and ACLs behind.
    ctx.containers_left = skipped;
    if !ctx.dry_run {
        let here = ctx.existing(Table::Containers)?;
        for r in ctx.src.rows("containers", &["id"], "")? {
            if !here.contains(&r.req(0)) {
                ctx.containers_left.insert(r.req(0));
            }
        }
    }
    let cols = ["id", "container_id", "secret_id", "name", "created_at", "deleted_at", "deleted", "updated_at"];
    let links = missing(ctx, "container secret links", "container_secret", &cols, Table::ContainerSecrets, |ctx, r| {
        if ctx.containers_left.contains(&r.req(1)) {
            Some(CLEFT.into())
        } else {
            ctx.secrets_left.contains(&r.req(2)).then(|| LEFT.into())
        }
    })?;
    ctx.write("container secret links", &links, |c, r| {
        imported::container_secret(c, &r.req(0), &r.req(1), &r.req(2), r.s(3).as_deref(), r.time(4).unwrap_or_default(), deleted_at(r, 5, 6, 7))
    })?;
    let cols = ["id", "container_id", "project_id", "name", "URL", "created_at", "updated_at", "deleted_at", "deleted"];
    let cons = missing(ctx, "container consumers", "container_consumer_metadata", &cols, Table::ContainerConsumers, |ctx, r| {
        ctx.containers_left.contains(&r.req(1)).then(|| CLEFT.into())
    })?;
    let cons: Vec<(Row, Option<String>)> = cons.into_iter().map(|r| { let p = ctx.project(&r.req(2)); (r, p) }).collect();
    ctx.write("container consumers", &cons, |c, (r, p)| {
        let up = r.time(6).unwrap_or_default();
        imported::container_consumer(c, &r.req(0), &r.req(1), p.as_deref(), (&r.req(3), &r.req(4)), r.time(5).unwrap_or(up), up, deleted_at(r, 7, 8, 6))
    })
}

/// Secret or container ACLs, then their users.
fn acls(ctx: &mut Ctx, entity: &'static str) -> R<()> {
    let (kind, ukind, table, utable) = if entity == "secret" {
        ("secret ACLs", "secret ACL users", "secret_acls", "secret_acl_users")
    } else {
        ("container ACLs", "container ACL users", "container_acls", "container_acl_users")
    };
    let cols = ["id", &format!("{entity}_id"), "operation", "project_access", "created_at", "updated_at"].map(String::from);
    let cols: Vec<&str> = cols.iter().map(|s| s.as_str()).collect();
    let mut dropped = HashSet::new();
    let rows = missing(ctx, kind, table, &cols, Table::Acls, |ctx, r| {
        let left = if entity == "secret" { &ctx.secrets_left } else { &ctx.containers_left };
        let why = left.contains(&r.req(1)).then(|| if entity == "secret" { LEFT.to_string() } else { CLEFT.to_string() });
        if why.is_some() {
            dropped.insert(r.req(0));
        }
        why
    })?;
    ctx.write(kind, &rows, |c, r| {
        let up = r.time(5).unwrap_or_default();
        imported::acl(c, &r.req(0), (entity, &r.req(1)), &r.req(2), r.flag(3), r.time(4).unwrap_or(up), up)
    })?;
    let users = missing(ctx, ukind, utable, &["id", "acl_id", "user_id", "created_at"], Table::AclUsers, |_, r| {
        dropped.contains(&r.req(1)).then(|| "its ACL was not imported".into())
    })?;
    ctx.write(ukind, &users, |c, r| imported::acl_user(c, &r.req(0), &r.req(1), &r.req(2), r.time(3).unwrap_or_default()))
}

fn orders(ctx: &mut Ctx) -> R<()> {
    let cols = [
        "id", "project_id", "type", "status", "meta", "secret_id", "container_id", "error_status_code", "error_reason", "sub_status",
        "sub_status_message", "creator_id", "created_at", "updated_at", "deleted_at", "deleted",
    ];
    let rows = missing(ctx, "orders", "orders", &cols, Table::Orders, |ctx, r| {
        ctx.project(&r.req(1)).is_none().then(|| "its Barbican project row is missing".into())
    })?;
    let items: Vec<(OrderRow, Option<i64>)> = rows
        .iter()
        .map(|r| {
            let up = r.time(13).unwrap_or_default();
            let o = OrderRow {
                id: r.req(0),
                project_id: ctx.project(&r.req(1)).unwrap_or_default(),
                order_type: r.s(2).unwrap_or_else(|| "key".into()),
                status: r.s(3).unwrap_or_else(|| "PENDING".into()),
                meta: r.s(4).filter(|m| !m.trim().is_empty() && m != "null").unwrap_or_else(|| "{}".into()),
                secret_id: r.s(5),
                container_id: r.s(6),
                error_status_code: r.s(7),
                error_reason: r.s(8),
                sub_status: r.s(9),
                sub_status_message: r.s(10),
                creator_id: r.s(11),
                created_at: r.time(12).unwrap_or(up),
                updated_at: up,
            };
            (o, deleted_at(r, 14, 15, 13))
        })
        .collect();
    ctx.write("orders", &items, imported::order)
}

fn quotas(ctx: &mut Ctx) -> R<()> {
    let cols = ["project_id", "secrets", "orders", "containers", "consumers", "cas", "created_at", "updated_at"];
    // Keyed by the Keystone project id here: map before comparing.
    if !ctx.src.has_table("project_quotas") {
        return Ok(());
    }
    let present = ctx.existing(Table::ProjectQuotas)?;
    let mut items = Vec::new();
    for r in ctx.src.rows("project_quotas", &cols, "")? {
        match ctx.project(&r.req(0)) {
            None => ctx.report.skip("project quotas", "its Barbican project row is missing"),
            Some(p) if present.contains(&p) => ctx.report.of("project quotas").already += 1,
            Some(p) => items.push((p, r)),
        }
    }
    ctx.write("project quotas", &items, |c, (p, r)| {
        let up = r.time(7).unwrap_or_default();
        imported::quotas(c, p, [r.int(1), r.int(2), r.int(3), r.int(4), r.int(5)], r.time(6).unwrap_or(up), up)
    })
}

fn stores(ctx: &mut Ctx) -> R<()> {
    if !ctx.src.has_table("secret_stores") {
        return Ok(());
    }
    let by_name = imported::store_names(&mut *ctx.conn()?).map_err(|e| e.to_string())?;
    let cols = ["id", "name", "store_plugin", "crypto_plugin", "global_default", "created_at", "updated_at", "deleted"];
    // A store of the same name here (from [secretstore]) stands for Barbican's: map its id.
    let mut id_map = std::collections::HashMap::new();
    let rows = missing(ctx, "secret stores", "secret_stores", &cols, Table::SecretStores, |_, r| {
        if r.flag(7) {
            return Some("deleted in Barbican".into());
        }
        let same = by_name.iter().find(|(n, _)| *n == r.req(1));
        id_map.insert(r.req(0), same.map(|(_, id)| id.clone()).unwrap_or_else(|| r.req(0)));
        same.filter(|(_, id)| *id != r.req(0)).map(|(_, id)| format!("a store of the same name is configured here ({id})"))
    })?;
    ctx.write("secret stores", &rows, |c, r| {
        let up = r.time(6).unwrap_or_default();
        imported::secret_store(c, &r.req(0), &r.req(1), (&r.req(2), r.s(3).as_deref()), r.flag(4), r.time(5).unwrap_or(up), up)
    })?;
    let present = ctx.existing(Table::ProjectSecretStore)?;
    let mut items = Vec::new();
    for r in ctx.src.rows("project_secret_store", &["project_id", "secret_store_id", "created_at", "updated_at", "deleted"], "")? {
        let (p, s) = (ctx.project(&r.req(0)), id_map.get(&r.req(1)).cloned());
        match (p, s) {
            _ if r.flag(4) => ctx.report.skip("secret-store preferences", "deleted in Barbican"),
            (Some(p), _) if present.contains(&p) => ctx.report.of("secret-store preferences").already += 1,
            (Some(p), Some(s)) => items.push((p, s, r)),
            _ => ctx.report.skip("secret-store preferences", "its project or store is missing"),
        }
    }
    ctx.write("secret-store preferences", &items, |c, (p, s, r)| {
        let up = r.time(3).unwrap_or_default();
        imported::preferred_store(c, p, s, r.time(2).unwrap_or(up), up)
    })
}

fn transport_keys(ctx: &mut Ctx) -> R<()> {
    let cols = ["id", "plugin_name", "transport_key", "status", "created_at", "updated_at", "deleted_at", "deleted"];
    let rows = missing(ctx, "transport keys", "transport_keys", &cols, Table::TransportKeys, |_, _| None)?;
    ctx.write("transport keys", &rows, |c, r| {
        let up = r.time(5).unwrap_or_default();
        let st = r.s(3).unwrap_or_else(|| "ACTIVE".into());
        imported::transport_key(c, &r.req(0), &r.req(1), &r.req(2), &st, (r.time(4).unwrap_or(up), up, deleted_at(r, 6, 7, 5)))
    })
}
