//! Insert throughput on a file database: `insert` (one transaction per job)
//! and `insert_many` in batches of 1,000. Reports jobs per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use riverlite::{Client, InsertManyParams, JobArgs};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct SendEmail {
    to: String,
    n: u64,
}

impl JobArgs for SendEmail {
    const KIND: &'static str = "send_email";
}

const BATCH: u64 = 1_000;

fn args(n: u64) -> SendEmail {
    SendEmail {
        to: format!("user{n}@example.com"),
        n,
    }
}

fn insert(c: &mut Criterion) {
    let mut group = c.benchmark_group("insert");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let dir = tempfile::tempdir().expect("temp dir");
    let client = Client::builder(dir.path().join("single.db"))
        .build()
        .expect("client");
    let mut n = 0;
    group.throughput(Throughput::Elements(1));
    group.bench_function("single", |b| {
        b.iter(|| {
            n += 1;
            black_box(client.insert(args(n), None).expect("insert"))
        })
    });

    let client = Client::builder(dir.path().join("many.db"))
        .build()
        .expect("client");
    let mut n = 0;
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("insert_many_1000", |b| {
        b.iter(|| {
            let params = (n..n + BATCH)
                .map(|i| InsertManyParams::new(args(i)))
                .collect();
            n += BATCH;
            black_box(client.insert_many(params).expect("insert_many"))
        })
    });
    group.finish();
}

criterion_group!(benches, insert);
criterion_main!(benches);
