# jetstream-pg-writer: `just` lists every recipe. Everything runs natively (no Docker needed);
# ports and folders come from JPW_* variables (see ops/lib/stack-config.ts).

set shell := ["bash", "-euo", "pipefail", "-c"]

tsx := "node --import tsx"

# List every recipe
default:
    @just --list --unsorted

# Install or verify every tool: npm packages, nats-server, nats CLI, Postgres, Redis, Caddy, Chromium, JDK, Debezium
setup:
    bash ops/bootstrap.sh

# Run the whole system like `docker compose up` (-d: leave it running in the background)
up *args:
    {{tsx}} ops/stack.ts up {{args}}

# Start the infrastructure only (NATS, Postgres, Redis), migrated and reconciled, and leave it running
dev:
    {{tsx}} ops/stack.ts dev

# Write docker compose's secrets (.env, owner-only, never committed) from the stack's; `just up` does it for compose
compose-env:
    {{tsx}} ops/docker/env.ts

# Stop everything the local stack started
down:
    {{tsx}} ops/stack.ts down

# Stop everything and delete the local stack's data (.data/)
clean:
    {{tsx}} ops/stack.ts clean

# Show what runs where, and (to the stack's owner only) the admin credentials to paste
status:
    {{tsx}} ops/stack.ts status

# The nats CLI as the local stack's admin user: `just nats stream ls` (credentials from .data/secrets)
[positional-arguments]
nats *args:
    {{tsx}} ops/clients.ts nats "$@"

# psql as the local stack's superuser: `just psql [db] [-c "select ..."]` (default database jpw)
[positional-arguments]
psql *args:
    {{tsx}} ops/clients.ts psql "$@"

# redis-cli as the local stack's admin user: `just redis-cli [command]`
[positional-arguments]
redis-cli *args:
    {{tsx}} ops/clients.ts redis-cli "$@"

# Follow the logs of the local stack (all, or the named processes); the deployed server's: `just server-logs`
logs *names:
    {{tsx}} ops/stack.ts logs {{names}}

# Apply new migrations to the local database (or the DATABASE_URL given)
migrate *url:
    {{tsx}} ops/migrate.ts {{url}}

# Reconcile NATS with streams.yaml: `just streams plan`, `just streams apply [--prune] [--allow-destructive]`
streams *args:
    {{tsx}} ops/reconcile/cli.ts {{args}}

# Dead letters of the write path: `just dlq list`, `just dlq replay <seq>|--all` (once the cause is fixed)
dlq *args:
    {{tsx}} ops/dlq.ts {{args}}

# Rebuild a database from the command log: `just replay --into <database>`, or `just replay --verify` against the live one
replay *args:
    {{tsx}} ops/replay.ts {{args}}

# Copy users and orders for replay once history no longer reaches back: `just snapshot [--keep 3]`, `just snapshot list`
snapshot *args:
    {{tsx}} ops/snapshot.ts {{args}}

# Run the whole test suite: format, lint, typecheck and every test (words filter test files)
test *args:
    {{tsx}} ops/test.ts {{args}}

# The quick gate: format, lint, typecheck and unit tests
check:
    {{tsx}} ops/test.ts --unit

# Format and fix lint issues in place
fmt:
    node_modules/.bin/biome check --write .

# Fuzz the HTTP API against its OpenAPI document on a fresh system: `just fuzz [--duration 2m] [--seed N] [--checks all]`
fuzz *args:
    {{tsx}} ops/fuzz.ts {{args}}

# Check the system's promises under a seeded workload and faults: `just verify [--seed N] [--duration 90s|10m|2h] [--clients 8] [--faults all|none|kill,pause,...] [--limits default|tiny] [--cluster]`
verify *args:
    {{tsx}} ops/verify/cli.ts {{args}}

# Run a benchmark against its baseline: `just bench system|write|read|cdc [--duration 10 ...]` (system: the whole stack as `just up` runs it, through the edge)
bench which *args:
    {{tsx}} ops/bench/{{which}}.ts {{args}}

# Deploy the committed HEAD to a fresh Debian 13 server over ssh: `just deploy root@203.0.113.7 [--domain shop.example.com]`
deploy target *args:
    {{tsx}} ops/deploy/cli.ts deploy {{target}} {{args}}

# Roll out the committed HEAD to the deployed server: only what changed, streams.yaml and migrations first [--allow-dirty]
update *args:
    {{tsx}} ops/deploy/cli.ts update {{args}}

# A shell on the deployed server, or one command there (`just ssh jpw status`)
ssh *args:
    {{tsx}} ops/deploy/cli.ts ssh {{args}}

# Follow the deployed server's logs (journald; all, or the named processes); `just logs` is the local stack's
server-logs *names:
    {{tsx}} ops/deploy/cli.ts logs {{names}}

# Create a Vultr server (VULTR_API_KEY; JPW_VULTR_PLAN/REGION/OS), wait for ssh, then deploy to it
go *args:
    {{tsx}} ops/deploy/cli.ts go {{args}}

# Delete the Vultr server `just go` created, with all its data [--yes]
destroy *args:
    {{tsx}} ops/deploy/cli.ts destroy {{args}}
