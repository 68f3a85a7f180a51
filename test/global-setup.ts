// Shared set-up for the whole run (a fresh database, nats-server binaries) arrives with the
// tests that need it; check tests start their own servers.
export default function setup(): void {}
