//! SQL on `river_leader` (filled in with leader election).
