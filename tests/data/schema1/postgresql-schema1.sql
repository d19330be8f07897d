CREATE TABLE build_environments (
	id SERIAL NOT NULL, 
	hostname VARCHAR(250) NOT NULL, 
	host_os VARCHAR(250) NOT NULL, 
	platform VARCHAR(250) NOT NULL, 
	host_target VARCHAR(250) NOT NULL, 
	kernel_version VARCHAR(250) NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_build_env UNIQUE (hostname, host_os, platform, host_target, kernel_version)
);

CREATE TABLE compilers (
	id SERIAL NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	version VARCHAR(200) NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name, version)
);

CREATE TABLE features (
	id SERIAL NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);

CREATE TABLE spackmon_meta (
	key VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY (key)
);

CREATE TABLE targets (
	id SERIAL NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	vendor VARCHAR(200) NOT NULL, 
	generation INTEGER NOT NULL, 
	features JSON NOT NULL, 
	parents JSON NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name, vendor, generation)
);

CREATE TABLE users (
	id SERIAL NOT NULL, 
	username VARCHAR(150) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	token_updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (username)
);

CREATE TABLE architectures (
	id SERIAL NOT NULL, 
	platform VARCHAR(200) NOT NULL, 
	os VARCHAR(200) NOT NULL, 
	target_id INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (platform, os, target_id), 
	FOREIGN KEY(target_id) REFERENCES targets (id)
);

CREATE TABLE specs (
	id SERIAL NOT NULL, 
	name VARCHAR(250) NOT NULL, 
	version VARCHAR(250) NOT NULL, 
	full_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64), 
	build_hash VARCHAR(64), 
	dag_hash VARCHAR(64), 
	package_hash VARCHAR(64), 
	spack_version VARCHAR(250) NOT NULL, 
	namespace VARCHAR(250), 
	compiler_id INTEGER, 
	architecture_id INTEGER, 
	compiler_name VARCHAR(200), 
	compiler_version VARCHAR(200), 
	platform VARCHAR(200), 
	os VARCHAR(200), 
	target VARCHAR(200), 
	parameters JSON NOT NULL, 
	external BOOLEAN NOT NULL, 
	external_path TEXT, 
	is_root BOOLEAN NOT NULL, 
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_spec_identity UNIQUE (name, full_hash, spack_version), 
	FOREIGN KEY(compiler_id) REFERENCES compilers (id), 
	FOREIGN KEY(architecture_id) REFERENCES architectures (id)
);

CREATE INDEX ix_specs_build_hash ON specs (build_hash);

CREATE INDEX ix_specs_dag_hash ON specs (dag_hash);

CREATE INDEX ix_specs_full_hash ON specs (full_hash);

CREATE INDEX ix_specs_hash ON specs (hash);

CREATE TABLE builds (
	id SERIAL NOT NULL, 
	spec_id INTEGER NOT NULL, 
	build_environment_id INTEGER NOT NULL, 
	owner_id INTEGER NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	tags JSON NOT NULL, 
	spack_version VARCHAR(250) NOT NULL, 
	config_args TEXT, 
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_build_identity UNIQUE (spec_id, build_environment_id), 
	FOREIGN KEY(spec_id) REFERENCES specs (id), 
	FOREIGN KEY(build_environment_id) REFERENCES build_environments (id), 
	FOREIGN KEY(owner_id) REFERENCES users (id)
);

CREATE INDEX ix_builds_status ON builds (status);

CREATE TABLE dependencies (
	id SERIAL NOT NULL, 
	spec_id INTEGER NOT NULL, 
	dependency_id INTEGER NOT NULL, 
	deptypes JSON NOT NULL, 
	virtuals JSON NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_dependency_edge UNIQUE (spec_id, dependency_id), 
	FOREIGN KEY(spec_id) REFERENCES specs (id), 
	FOREIGN KEY(dependency_id) REFERENCES specs (id)
);

CREATE TABLE attributes (
	id SERIAL NOT NULL, 
	build_id INTEGER NOT NULL, 
	analyzer VARCHAR(250) NOT NULL, 
	name TEXT NOT NULL, 
	install_file TEXT, 
	value TEXT, 
	json_value JSON, 
	binary_value BYTEA, 
	PRIMARY KEY (id), 
	FOREIGN KEY(build_id) REFERENCES builds (id)
);

CREATE INDEX ix_attributes_build ON attributes (build_id);

CREATE TABLE build_phases (
	id SERIAL NOT NULL, 
	build_id INTEGER NOT NULL, 
	name VARCHAR(250) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	output TEXT, 
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_phase_identity UNIQUE (build_id, name), 
	FOREIGN KEY(build_id) REFERENCES builds (id)
);

CREATE TABLE environment_variables (
	id SERIAL NOT NULL, 
	build_id INTEGER NOT NULL, 
	name TEXT NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(build_id) REFERENCES builds (id)
);

CREATE INDEX ix_envvars_build ON environment_variables (build_id);

CREATE TABLE install_files (
	id SERIAL NOT NULL, 
	build_id INTEGER NOT NULL, 
	path TEXT NOT NULL, 
	prefix TEXT, 
	ftype VARCHAR(32), 
	mode BIGINT, 
	owner BIGINT, 
	"group" BIGINT, 
	hash VARCHAR(128), 
	size BIGINT, 
	time VARCHAR(64), 
	extra JSON NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(build_id) REFERENCES builds (id)
);

CREATE INDEX ix_install_files_build ON install_files (build_id);

CREATE TABLE build_events (
	id SERIAL NOT NULL, 
	kind VARCHAR(10) NOT NULL, 
	build_id INTEGER NOT NULL, 
	phase_id INTEGER NOT NULL, 
	text TEXT NOT NULL, 
	line_no INTEGER, 
	source_file TEXT, 
	source_line_no INTEGER, 
	pre_context JSON NOT NULL, 
	post_context JSON NOT NULL, 
	repeat_count INTEGER NOT NULL, 
	classes JSON NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(build_id) REFERENCES builds (id), 
	FOREIGN KEY(phase_id) REFERENCES build_phases (id)
);

CREATE INDEX ix_build_events_build_kind ON build_events (build_id, kind);

CREATE INDEX ix_build_events_phase ON build_events (phase_id);
