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
