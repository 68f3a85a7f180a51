-- bearmon schema. Creates everything on an empty database; every statement is idempotent,
-- so `bearmon db migrate` runs this file on any database (including a gobearmon one)
-- and then adds bearmon's columns to tables that already existed.
--
-- The first five tables are gobearmon's, with the same names, columns and types: an
-- existing gobearmon database keeps working unchanged.

-- front-end tables (gobearmon)
CREATE TABLE IF NOT EXISTS checks (
	id INT NOT NULL PRIMARY KEY AUTO_INCREMENT,
	name VARCHAR(64) NOT NULL,
	type VARCHAR(16) NOT NULL,
	data VARCHAR(1024) NOT NULL,
	check_interval INT NOT NULL DEFAULT 60,
	delay INT NOT NULL DEFAULT 1,
	status ENUM ('online', 'offline') DEFAULT 'online',
	enabled TINYINT(1) NOT NULL DEFAULT 1
);

CREATE TABLE IF NOT EXISTS contacts (
	id INT NOT NULL PRIMARY KEY AUTO_INCREMENT,
	type VARCHAR(32) NOT NULL,
	data VARCHAR(512) NOT NULL
);

CREATE TABLE IF NOT EXISTS alerts (
	id INT NOT NULL PRIMARY KEY AUTO_INCREMENT,
	check_id INT NOT NULL,
	contact_id INT NOT NULL,
	type ENUM ('online', 'offline', 'both') DEFAULT 'both',
	enabled TINYINT(1) NOT NULL DEFAULT 1
);

-- data tables (gobearmon)
CREATE TABLE IF NOT EXISTS check_events (
	id INT NOT NULL PRIMARY KEY AUTO_INCREMENT,
	check_id INT NOT NULL,
	type ENUM ('online', 'offline'),
	time TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS charges (
	id INT NOT NULL PRIMARY KEY AUTO_INCREMENT,
	check_id INT NOT NULL,
	type VARCHAR(32) NOT NULL,
	data VARCHAR(512) NOT NULL
);

-- bearmon tables

-- One row per schema change applied by `bearmon db migrate`: which bearmon version made
-- the database what it is. Rows are only ever added.
CREATE TABLE IF NOT EXISTS bearmon_schema (
	version INT NOT NULL PRIMARY KEY,
	description VARCHAR(255) NOT NULL,
	applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- One row per transition recorded in checks.status and check_events, keyed by the
-- controller's name for the transition: a write retried after a lost connection (or by a
-- successor controller) finds its key and inserts no second check_events row. Binary, so
-- keys differing only in case or trailing spaces stay distinct.
CREATE TABLE IF NOT EXISTS bearmon_transitions (
	transition_key VARBINARY(128) NOT NULL PRIMARY KEY,
	check_id INT NOT NULL,
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Fencing for controller fail-over: the highest view number that has written here. A
-- transition write from a controller of an older view (one that was replaced while cut
-- off) is refused, so two controllers can never both write.
CREATE TABLE IF NOT EXISTS bearmon_fence (
	id TINYINT NOT NULL PRIMARY KEY,
	view BIGINT NOT NULL DEFAULT 0
);

-- The notification outbox: one row per notification a transition owes, inserted in the
-- same transaction as the transition (so a recorded transition always has its
-- notifications, and a retried write adds none). The contact and the check are copied
-- as they were at the transition: what is sent does not change under a later edit.
-- Delivery claims a row (state 'sending', with its view and controller), sends, and
-- records the outcome; `attempts` counts claims.
CREATE TABLE IF NOT EXISTS bearmon_notifications (
	id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
	notification_key VARBINARY(160) NOT NULL UNIQUE,
	transition_key VARBINARY(128) NOT NULL,
	check_id INT NOT NULL,
	alert_id INT NOT NULL,
	contact_id INT NOT NULL,
	-- NULL: the alert names a contact that does not exist.
	contact_type VARCHAR(32) NULL,
	contact_data VARCHAR(512) NULL,
	check_name VARCHAR(64) NOT NULL,
	check_type VARCHAR(16) NOT NULL,
	check_data VARCHAR(1024) NOT NULL,
	status ENUM ('online', 'offline') NOT NULL,
	message VARCHAR(4096) NOT NULL DEFAULT '',
	workers VARCHAR(2048) NOT NULL DEFAULT '[]',
	transition_at DATETIME(3) NOT NULL,
	-- 'held': waits for a maintenance window's end (next_attempt_at); 'skipped': the check changed
	-- again before the window ended, so nobody is told (src/db/migrate.ts widens older tables).
	state ENUM ('pending', 'sending', 'delivered', 'failed', 'unconfirmed', 'held', 'skipped') NOT NULL DEFAULT 'pending',
	attempts INT NOT NULL DEFAULT 0,
	next_attempt_at DATETIME(3) NOT NULL,
	claimed_view BIGINT NULL,
	claimed_by VARCHAR(64) NULL,
	claimed_at DATETIME(3) NULL,
	outcome VARCHAR(1024) NULL,
	finished_at DATETIME(3) NULL,
	created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	KEY due (state, next_attempt_at),
	KEY finished (state, finished_at)
) DEFAULT CHARSET = utf8mb4;

-- Every delivery attempt: started when claimed, finished when its outcome was recorded.
-- An attempt with no finish was cut short by a controller that died mid-send.
CREATE TABLE IF NOT EXISTS bearmon_notification_attempts (
	notification_id BIGINT NOT NULL,
	attempt INT NOT NULL,
	view BIGINT NOT NULL,
	controller VARCHAR(64) NOT NULL,
	started_at DATETIME(3) NOT NULL,
	finished_at DATETIME(3) NULL,
	result ENUM ('delivered', 'retry', 'failed', 'unconfirmed') NULL,
	detail VARCHAR(1024) NULL,
	PRIMARY KEY (notification_id, attempt)
) DEFAULT CHARSET = utf8mb4;

-- Uptime and latency history (src/history/, docs/HISTORY.md): one row per check, bucket and
-- worker, written by the controller in batches as it accepts results. Fine buckets (5 min)
-- are kept 2 days, hourly ones 400 days. Latency is of online results, in ms; h_<bound>
-- counts results up to that many ms (h_inf: slower), fixed bounds so rows of several
-- workers or buckets add up and quantiles can be estimated from the sum. The key starts
-- with the check: a check's series is one range of it.
CREATE TABLE IF NOT EXISTS bearmon_history_fine (
	check_id INT NOT NULL,
	bucket_start DATETIME NOT NULL,
	worker VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	runs MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	failures MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	errors MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	latency_count MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	latency_sum_ms INT UNSIGNED NOT NULL DEFAULT 0,
	latency_min_ms MEDIUMINT UNSIGNED NULL,
	latency_max_ms MEDIUMINT UNSIGNED NULL,
	h_10 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_25 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_50 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_100 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_250 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_500 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_1000 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_2500 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_5000 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_inf MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	PRIMARY KEY (check_id, bucket_start, worker)
);

CREATE TABLE IF NOT EXISTS bearmon_history_hourly (
	check_id INT NOT NULL,
	bucket_start DATETIME NOT NULL,
	worker VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	runs MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	failures MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	errors MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	latency_count MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	latency_sum_ms INT UNSIGNED NOT NULL DEFAULT 0,
	latency_min_ms MEDIUMINT UNSIGNED NULL,
	latency_max_ms MEDIUMINT UNSIGNED NULL,
	h_10 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_25 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_50 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_100 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_250 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_500 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_1000 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_2500 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_5000 MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	h_inf MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
	PRIMARY KEY (check_id, bucket_start, worker)
);

-- Maintenance windows (bearmon maintenance, the maintenance: section of bearmon apply): while
-- one covers a check, its transitions are recorded but its notifications are held until the
-- window ends, and sent then only if the check is still in the state they announce.
-- check_id NULL: every check. kind 'once' (spec {start, end}), 'weekly' ({days, start,
-- duration}) or 'cron' ({cron, duration}); times are in time_zone (IANA).
CREATE TABLE IF NOT EXISTS bearmon_maintenance (
	id INT NOT NULL PRIMARY KEY AUTO_INCREMENT,
	name VARCHAR(64) NOT NULL UNIQUE,
	check_id INT NULL,
	kind ENUM ('once', 'weekly', 'cron') NOT NULL,
	spec VARCHAR(1024) NOT NULL,
	time_zone VARCHAR(64) NOT NULL DEFAULT 'UTC',
	enabled TINYINT(1) NOT NULL DEFAULT 1,
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
) DEFAULT CHARSET = utf8mb4;
