//! riverlite's tour: creates `quickstart.db` under the system temp directory,
//! inserts jobs from an insert-only client, and lists them.

use riverlite::{Client, InsertManyParams, InsertOpts, JobArgs, JobListParams};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct SendEmail {
    to: String,
}

impl JobArgs for SendEmail {
    const KIND: &'static str = "send_email";
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("riverlite-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("quickstart.db");
    println!("database: {}", path.display());

    let client = Client::builder(&path).build()?;
    client.insert(
        SendEmail {
            to: "ada@example.com".into(),
        },
        None,
    )?;
    client.insert(
        SendEmail {
            to: "grace@example.com".into(),
        },
        Some(InsertOpts {
            queue: Some("email".into()),
            priority: Some(2),
            ..Default::default()
        }),
    )?;
    let batch = (0..5)
        .map(|i| {
            InsertManyParams::new(SendEmail {
                to: format!("user{i}@example.com"),
            })
        })
        .collect();
    client.insert_many(batch)?;

    println!("  id  kind         queue    state      args");
    for job in client.job_list(&JobListParams::new())?.jobs {
        println!(
            "{:>4}  {:<12} {:<8} {:<10} {}",
            job.id, job.kind, job.queue, job.state, job.args
        );
    }
    drop(client);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
