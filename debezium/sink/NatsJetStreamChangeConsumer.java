/*
 * jetstream-pg-writer's NATS JetStream sink for Debezium Server 3.6.1.
 *
 * Why it exists: the distribution's sink of this name connects with noReconnect() and turns any
 * failed publish in async mode into an exception that stops the engine. Then every NATS restart,
 * every lost node and every election of the CDC stream's leader (503 No Responders for a few
 * seconds) ends the server, and a cold JVM start follows while the cache waits for invalidations.
 * This sink reconnects without end and publishes a batch again, in order, until the stream has
 * acknowledged all of it: Postgres keeps the WAL meanwhile, so nothing is missed, and an event
 * published twice is harmless (the reader's invalidation is idempotent).
 *
 * How it is used: Debezium Server picks its sink through a CDI bean generated when the
 * distribution was built, which instantiates this class name, sets customStreamingConnection
 * and calls connect() and close(). services/infra/debezium-sink.ts compiles this file against the
 * pinned distribution and puts the jar before lib/ on the class path, so this class is the one
 * loaded. It keeps that contract (name, package, field and methods) and nothing else of the
 * original. Settings: url, auth.user, auth.password and async.timeout.ms (the wait for one
 * batch's acknowledgements before it is published again).
 */
package io.debezium.server.nats.jetstream;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.Dependent;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import jakarta.inject.Named;

import org.eclipse.microprofile.config.ConfigProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.debezium.DebeziumException;
import io.debezium.config.Field;
import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.metadata.ComponentMetadata;
import io.debezium.server.BaseChangeConsumer;
import io.debezium.server.CustomConsumerBuilder;
import io.debezium.server.api.DebeziumServerSink;
import io.nats.client.Connection;
import io.nats.client.JetStream;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.PublishAck;
import io.nats.client.impl.Headers;

@Named("nats-jetstream")
@Dependent
public class NatsJetStreamChangeConsumer extends BaseChangeConsumer
        implements DebeziumEngine.ChangeConsumer<ChangeEvent<Object, Object>>, DebeziumServerSink {

    private static final Logger LOGGER = LoggerFactory.getLogger(NatsJetStreamChangeConsumer.class);
    private static final String PREFIX = "debezium.sink.nats-jetstream.";
    /** Marks this build in the log, so a run shows which sink it has. */
    static final String IDENTITY = "jetstream-pg-writer sink (reconnects, publishes again until acknowledged)";

    private static final long FIRST_PAUSE_MS = 100;
    private static final long MAX_PAUSE_MS = 1000;

    /** Set by the distribution's generated bean; a JetStream of one's own is not supported. */
    @Inject
    @CustomConsumerBuilder
    Instance<JetStream> customStreamingConnection;

    private Connection nc;
    private JetStream js;
    private long ackTimeoutMs;

    @PostConstruct
    void connect() {
        final Map<String, Object> c = getConfigSubset(ConfigProvider.getConfig(), PREFIX);
        final String url = setting(c, "url", null);
        if (url == null) {
            throw new DebeziumException(PREFIX + "url is required");
        }
        ackTimeoutMs = Long.parseLong(setting(c, "async.timeout.ms", "5000"));
        final Options.Builder options = new Options.Builder()
                .servers(url.split(","))
                .connectionName("debezium")
                // Never give up: a node or the whole server may be down for a while.
                .maxReconnects(-1)
                .reconnectWait(Duration.ofMillis(250))
                .connectionListener((conn, event) -> LOGGER.info("NATS connection: {} ({})", event, conn.getConnectedUrl()));
        final String user = setting(c, "auth.user", null);
        if (user != null) {
            options.userInfo(user, setting(c, "auth.password", ""));
        }
        try {
            nc = Nats.connect(options.build());
            js = nc.jetStream();
        }
        catch (Exception e) {
            throw new DebeziumException("cannot connect to NATS at " + url, e);
        }
        LOGGER.info("{}: connected to {}, acknowledgements awaited {} ms", IDENTITY, nc.getConnectedUrl(), ackTimeoutMs);
    }

    private static String setting(Map<String, Object> c, String name, String fallback) {
        final Object v = c.get(name);
        return v == null ? fallback : v.toString();
    }

    @Override
    public void close() {
        final Connection conn = nc;
        nc = null;
        if (conn == null) {
            return;
        }
        try {
            conn.close();
        }
        catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void handleBatch(List<ChangeEvent<Object, Object>> records,
                            DebeziumEngine.RecordCommitter<ChangeEvent<Object, Object>> committer)
            throws InterruptedException {
        final List<Outgoing> batch = new ArrayList<>(records.size());
        for (ChangeEvent<Object, Object> rec : records) {
            if (rec.value() != null) {
                final Headers headers = new Headers();
                convertHeaders(rec).forEach((k, v) -> {
                    if (v != null) {
                        headers.add(k, v);
                    }
                });
                batch.add(new Outgoing(streamNameMapper.map(rec.destination()), headers, getBytes(rec.value())));
            }
        }
        publishAll(batch);
        for (ChangeEvent<Object, Object> rec : records) {
            committer.markProcessed(rec);
        }
        committer.markBatchFinished();
    }

    private record Outgoing(String subject, Headers headers, byte[] data) {
    }

    /**
     * Publishes the batch and waits for every acknowledgement. From the first message without one,
     * the rest is published again in order (those already stored after it are stored twice), with a
     * growing pause, until all is acknowledged or the engine stops (an interrupt).
     */
    private void publishAll(List<Outgoing> batch) throws InterruptedException {
        int from = 0;
        int attempt = 0;
        long pauseMs = FIRST_PAUSE_MS;
        final long started = System.nanoTime();
        while (from < batch.size()) {
            final int failedAt = publishFrom(batch, from);
            if (failedAt < 0) {
                break;
            }
            from = failedAt;
            attempt++;
            Thread.sleep(pauseMs);
            pauseMs = Math.min(pauseMs * 2, MAX_PAUSE_MS);
        }
        if (attempt > 0) {
            LOGGER.info("published a batch of {} after {} attempts in {} ms", batch.size(), attempt + 1,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        }
    }

    /** The index of the first message not acknowledged, or -1 when all from `from` on were. */
    private int publishFrom(List<Outgoing> batch, int from) throws InterruptedException {
        final List<CompletableFuture<PublishAck>> acks = new ArrayList<>(batch.size() - from);
        try {
            for (int i = from; i < batch.size(); i++) {
                final Outgoing m = batch.get(i);
                acks.add(js.publishAsync(m.subject(), m.headers(), m.data()));
            }
        }
        catch (RuntimeException e) {
            // e.g. the outgoing buffer is full while reconnecting: wait for the ones sent, then again.
            LOGGER.warn("cannot publish to NATS now: {}", e.toString());
        }
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ackTimeoutMs);
        for (int i = 0; i < acks.size(); i++) {
            try {
                acks.get(i).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            }
            catch (ExecutionException | TimeoutException e) {
                final Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
                LOGGER.warn("no acknowledgement for message {} of {} ({}): {}; publishing from it again",
                        from + i + 1, batch.size(), batch.get(from + i).subject(), String.valueOf(cause));
                return from + i;
            }
        }
        return acks.size() == batch.size() - from ? -1 : from + acks.size();
    }

    @Override
    public Field.Set getConfigFields() {
        return Field.setOf();
    }

    @Override
    public List<ComponentMetadata> getConnectorMetadata() {
        return List.of();
    }
}
