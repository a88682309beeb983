-- riverlite's schema: River's SQLite format, migration line `main`, version 8.
--
-- This is the whole schema as it stands after River's main migrations 1-8, in
-- one piece. riverlite applies it (include_str!) to an empty database inside
-- one BEGIN IMMEDIATE transaction, then records (main, 1..8) in
-- river_migration. Column names, types, defaults, CHECK constraints and index
-- names are River's, so River clients in other languages can share the file.
--
-- A file at version 7 is worked as it is; migrating it to 8 rebuilds the
-- river_job part below (between its markers) and copies every row over.
--
-- Timestamps are UTC text 'YYYY-MM-DD HH:MM:SS.fff' (SQLite's
-- datetime('now','subsec')); they compare correctly as text.
-- JSON columns hold SQLite JSONB (SQLite 3.45+).

-- Which migrations have run, per line ('main' is River's; riverlite's own
-- tables, if it ever needs any, go in a line named 'riverlite').
CREATE TABLE river_migration (
    line text NOT NULL,
    version integer NOT NULL,
    created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT line_length CHECK (length(line) > 0 AND length(line) < 128),
    CONSTRAINT version_gte_1 CHECK (version >= 1),
    PRIMARY KEY (line, version)
);

-- >>> river_job
-- The jobs. One row per job, whatever its state.
CREATE TABLE river_job (
    id integer PRIMARY KEY AUTOINCREMENT,           -- never handed out twice (version 8)
    args blob NOT NULL DEFAULT (jsonb('{}')),       -- the job's args (JSONB object)
    attempt integer NOT NULL DEFAULT 0,             -- attempts started so far
    attempted_at timestamp,                         -- when the last attempt started
    attempted_by blob,                              -- JSONB array of client ids, at most 100
    created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    errors blob,                                    -- JSONB array of {at, attempt, error, trace}
    finalized_at timestamp,                         -- set exactly when cancelled/completed/discarded
    kind text NOT NULL,
    max_attempts integer NOT NULL DEFAULT 25,
    metadata blob NOT NULL DEFAULT (jsonb('{}')),   -- JSONB object
    priority integer NOT NULL DEFAULT 1,            -- 1 (highest) .. 4
    queue text NOT NULL DEFAULT 'default',
    state text NOT NULL DEFAULT 'available',
    scheduled_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    tags blob NOT NULL DEFAULT (jsonb('[]')),       -- JSONB array of strings
    unique_key blob,                                -- SHA-256 of the unique key string
    unique_states integer,                          -- 8-bit mask, alphabetical state order
    CONSTRAINT finalized_or_finalized_at_null CHECK (
        (finalized_at IS NULL AND state NOT IN ('cancelled', 'completed', 'discarded')) OR
        (finalized_at IS NOT NULL AND state IN ('cancelled', 'completed', 'discarded'))
    ),
    CONSTRAINT priority_in_range CHECK (priority >= 1 AND priority <= 4),
    CONSTRAINT queue_length CHECK (length(queue) > 0 AND length(queue) < 128),
    CONSTRAINT kind_length CHECK (length(kind) > 0 AND length(kind) < 128),
    CONSTRAINT state_valid CHECK (state IN ('available', 'cancelled', 'completed', 'discarded', 'pending', 'retryable', 'running', 'scheduled'))
);

CREATE INDEX river_job_kind ON river_job (kind);

-- Used by the cleaner to find finished jobs past their retention.
CREATE INDEX river_job_state_and_finalized_at_index ON river_job (state, finalized_at) WHERE finalized_at IS NOT NULL;

-- Used by the claim: state = 'available' AND queue = ? ORDER BY priority, scheduled_at, id.
CREATE INDEX river_job_prioritized_fetching_index ON river_job (state, queue, priority, scheduled_at, id);

-- Unique jobs: a key may appear at most once among rows whose state's bit is
-- set in unique_states (available = bit 0 ... scheduled = bit 7).
CREATE UNIQUE INDEX river_job_unique_idx ON river_job (unique_key)
    WHERE unique_key IS NOT NULL
        AND unique_states IS NOT NULL
        AND CASE state
            WHEN 'available' THEN unique_states & (1 << 0)
            WHEN 'cancelled' THEN unique_states & (1 << 1)
            WHEN 'completed' THEN unique_states & (1 << 2)
            WHEN 'discarded' THEN unique_states & (1 << 3)
            WHEN 'pending'   THEN unique_states & (1 << 4)
            WHEN 'retryable' THEN unique_states & (1 << 5)
            WHEN 'running'   THEN unique_states & (1 << 6)
            WHEN 'scheduled' THEN unique_states & (1 << 7)
            ELSE 0
        END >= 1;
-- <<< river_job

-- River's leader lease. riverlite processes choose among themselves through a
-- file lock, and the lock holder leads only while it also holds this lease,
-- taken and refreshed as River's clients do, so the two never lead at once.
CREATE TABLE river_leader (
    elected_at timestamp NOT NULL,
    expires_at timestamp NOT NULL,
    leader_id text NOT NULL,
    name text PRIMARY KEY NOT NULL DEFAULT 'default' CHECK (name = 'default'),
    CONSTRAINT name_length CHECK (length(name) > 0 AND length(name) < 128),
    CONSTRAINT leader_id_length CHECK (length(leader_id) > 0 AND length(leader_id) < 128)
);

-- Queues known to the database; paused_at is set while a queue is paused.
CREATE TABLE river_queue (
    name text PRIMARY KEY NOT NULL,
    created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    metadata blob NOT NULL DEFAULT (jsonb('{}')),
    paused_at timestamp,
    updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- River's notification outbox: inserts, queue and job control, leadership.
CREATE TABLE river_notification (
    id integer PRIMARY KEY AUTOINCREMENT,
    created_at timestamp NOT NULL DEFAULT (datetime('now', 'subsec')),
    payload text NOT NULL,
    topic text NOT NULL,
    CONSTRAINT topic_length CHECK (length(topic) > 0 AND length(topic) < 128)
);

CREATE INDEX river_notification_created_at_idx ON river_notification (created_at);
CREATE INDEX river_notification_topic_id_idx ON river_notification (topic, id);

-- >>> riverlite line 1
-- riverlite's own tables, migration line `riverlite` (River's clients ignore
-- them): created with the main line, in the same transaction, or added to a
-- River file when riverlite migrates it.

-- Durable schedules: periodic jobs stored in the database, which any client
-- (insert-only ones and the CLI included) writes and the leader runs. A row
-- with from_code = 1 records the targets of a periodic job defined in a
-- working client's code, so catch-up never depends on surviving job rows.
CREATE TABLE riverlite_periodic_job (
    id text PRIMARY KEY NOT NULL,
    kind text NOT NULL,
    args blob NOT NULL DEFAULT (jsonb('{}')),       -- each job's args (JSONB object)
    schedule text NOT NULL,                         -- Schedule's Display: a cron spec, or 'every 30s'
    opts blob NOT NULL DEFAULT (jsonb('{}')),       -- each job's insert options (JSONB object)
    from_code integer NOT NULL DEFAULT 0,
    paused integer NOT NULL DEFAULT 0,
    last_target_at timestamp,                       -- the latest target enqueued
    next_target_at timestamp,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    CONSTRAINT id_length CHECK (length(id) > 0 AND length(id) < 128),
    CONSTRAINT kind_length CHECK (length(kind) > 0 AND length(kind) < 128)
);
-- <<< riverlite line 1
