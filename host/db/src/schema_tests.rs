//! The SQLite and PostgreSQL migrations give the same schema: the same tables, each with
//! the same columns (name and nullability), and the same explicit indexes.

use super::*;
use std::collections::BTreeMap;

/// Table → column → nullable, and the explicit index names.
#[derive(Debug, PartialEq)]
struct Schema {
    tables: BTreeMap<String, BTreeMap<String, bool>>,
    indexes: Vec<String>,
}

async fn strings(db: &Db, sql: &str) -> Vec<String> {
    let rows = sqlx::query(sql).fetch_all(db.pool()).await.unwrap();
    rows.iter()
        .map(|r| get::<String>(r, "name").unwrap())
        .collect()
}

async fn sqlite_schema(db: &Db) -> Schema {
    let names = strings(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
    )
    .await;
    let mut tables = BTreeMap::new();
    for t in names {
        // `pragma_table_info` as a table: the Any driver cannot describe a bare PRAGMA.
        let rows = sqlx::query(&format!(
            "SELECT name, \"notnull\" AS nn, pk FROM pragma_table_info('{t}')"
        ))
        .fetch_all(db.pool())
        .await
        .unwrap();
        let columns = rows
            .iter()
            .map(|r| {
                let name: String = get(r, "name").unwrap();
                let notnull: i64 = get(r, "nn").unwrap();
                let pk: i64 = get(r, "pk").unwrap();
                (name, notnull == 0 && pk == 0)
            })
            .collect();
        tables.insert(t, columns);
    }
    let indexes = strings(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
    )
    .await;
    Schema { tables, indexes }
}

async fn postgres_schema(db: &Db) -> Schema {
    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, is_nullable::text AS n \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         AND table_name NOT LIKE '_sqlx%' ORDER BY table_name, column_name",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let mut tables: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for r in &rows {
        let t: String = get(r, "t").unwrap();
        let c: String = get(r, "c").unwrap();
        let n: String = get(r, "n").unwrap();
        tables.entry(t).or_default().insert(c, n == "YES");
    }
    // Indexes made by CREATE INDEX, not those behind a primary key or UNIQUE constraint.
    let indexes = strings(
        db,
        "SELECT indexname::text AS name FROM pg_indexes i WHERE schemaname = current_schema() \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) \
         ORDER BY indexname",
    )
    .await;
    Schema { tables, indexes }
}

#[tokio::test]
async fn both_databases_get_the_same_tables_columns_and_indexes() {
    let sqlite = Db::connect(&scratch::sqlite_url(), 1, Duration::from_secs(5))
        .await
        .unwrap();
    sqlite.migrate().await.unwrap();
    let lite = sqlite_schema(&sqlite).await;
    let url = scratch::create_postgres_database().await.unwrap();
    let pg = Db::connect(&url, 1, Duration::from_secs(5)).await.unwrap();
    pg.migrate().await.unwrap();
    let post = postgres_schema(&pg).await;
    pg.close().await;
    scratch::drop_postgres_database(&url).await;
    assert!(lite.tables.len() > 10, "{lite:?}");
    assert!(lite.tables.contains_key("instances"), "{lite:?}");
    for (table, columns) in &lite.tables {
        assert_eq!(
            Some(columns),
            post.tables.get(table),
            "table {table}: SQLite and PostgreSQL differ"
        );
    }
    assert_eq!(
        lite.tables.keys().collect::<Vec<_>>(),
        post.tables.keys().collect::<Vec<_>>(),
        "the two databases have different tables"
    );
    assert_eq!(lite.indexes, post.indexes, "explicit indexes differ");
}
