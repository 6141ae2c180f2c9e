-- Portable SQL: the same file migrates SQLite and PostgreSQL. Hence BIGINT
-- everywhere (Discord snowflakes fit in i64), times as Unix milliseconds,
-- JSON as TEXT, and application-generated ids (no SERIAL/AUTOINCREMENT,
-- whose syntax differs between the two engines).

CREATE TABLE guilds (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE members (
    guild_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    left_at BIGINT,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE moderation_actions (
    id BIGINT PRIMARY KEY,
    guild_id BIGINT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('warn', 'timeout', 'kick', 'ban')),
    moderator_id BIGINT NOT NULL,
    target_id BIGINT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX moderation_actions_by_guild ON moderation_actions (guild_id, id);
CREATE INDEX moderation_actions_by_target ON moderation_actions (guild_id, target_id, id);
CREATE INDEX moderation_actions_by_time ON moderation_actions (guild_id, created_at);

-- Events are kept as counts per guild, type and minute: no message content,
-- no per-message row, and the table grows with time, not with traffic.
CREATE TABLE event_counts (
    guild_id BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    minute BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (guild_id, event_type, minute)
);
