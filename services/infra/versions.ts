// Pinned versions of every server the project installs. Bump here and `just setup` converges.
export const versions = {
  natsServer: "v2.14.9",
  natsCli: "v0.5.0",
  debezium: "3.6.1.Final",
  // Debezium Server 3.x is built for Java 21.
  minJava: 21,
  // Our config relies on nats-server 2.12+ (strict JSON, sync_interval, metadata).
  minNatsServer: "2.12.0",
} as const;
