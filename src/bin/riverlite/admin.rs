//! `riverlite migrate` and `riverlite leader`: the schema and who leads.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use clap::Args;
use riverlite::{Client, Error, LeaderRow};

use crate::failure::{self, CliResult};
use crate::Target;

/// Options of `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Only show the applied versions of each migration line; change nothing.
    #[arg(long)]
    status: bool,
}

/// Applies the schema (creating the file if needed), or shows its status.
pub fn migrate(args: &MigrateArgs, target: &Target, out: &mut dyn Write) -> CliResult {
    if args.status {
        return status(target, out);
    }
    let client = target.open_or_create()?;
    writeln!(out, "{}: migrated", target.path()?.display())?;
    write_versions(&client, out)
}

/// Prints the applied versions, or why there are none.
fn status(target: &Target, out: &mut dyn Write) -> CliResult {
    match target.try_open_existing()? {
        Ok(client) => write_versions(&client, out),
        Err(Error::NotMigrated { found: None, .. }) => {
            writeln!(out, "main: none (not migrated; run `riverlite migrate`)")?;
            Ok(())
        }
        Err(Error::NotMigrated {
            found: Some(v),
            need,
            ..
        }) => {
            writeln!(out, "main: up to {v} (this riverlite needs {need})")?;
            Ok(())
        }
        Err(e) => Err(failure::opening(target.path()?, e)),
    }
}

/// One line per migration line: `main: 1, 2, 3, 4, 5, 6, 7, 8`.
fn write_versions(client: &Client, out: &mut dyn Write) -> CliResult {
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for riverlite::Migration { line, version, .. } in client.migrations()? {
        lines.entry(line).or_default().push(version.to_string());
    }
    for (line, versions) in lines {
        writeln!(out, "{line}: {}", versions.join(", "))?;
    }
    Ok(())
}

/// Shows the leader recorded in `river_leader`, or `no leader`.
pub fn leader(client: &Client, out: &mut dyn Write) -> CliResult {
    match client.leader()? {
        Some(row) => write_leader(&row, Utc::now(), out)?,
        None => writeln!(out, "no leader")?,
    }
    Ok(())
}

fn write_leader(row: &LeaderRow, now: DateTime<Utc>, out: &mut dyn Write) -> std::io::Result<()> {
    let format = |at: DateTime<Utc>| at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string();
    writeln!(out, "leader_id:  {}", row.leader_id)?;
    writeln!(out, "elected_at: {}", format(row.elected_at))?;
    writeln!(
        out,
        "expires_at: {} ({})",
        format(row.expires_at),
        expiry(row.expires_at, now)
    )
}

/// "in 4 s", or "expired 12 s ago: no live leader" once passed.
fn expiry(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (expires_at - now).num_milliseconds() as f64 / 1000.0;
    if seconds >= 0.0 {
        format!("in {seconds:.1} s")
    } else {
        format!("expired {:.1} s ago: no live leader", -seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn expiry_says_whether_the_record_is_live() {
        let now = Utc::now();
        assert_eq!(expiry(now + Duration::seconds(4), now), "in 4.0 s");
        assert_eq!(
            expiry(now - Duration::milliseconds(1500), now),
            "expired 1.5 s ago: no live leader"
        );
    }
}
