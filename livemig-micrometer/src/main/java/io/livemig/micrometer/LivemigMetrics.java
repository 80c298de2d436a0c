package io.livemig.micrometer;

import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationListener;
import io.livemig.api.MigrationProgress;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.RoundStats;
import io.livemig.api.Strategy;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.Timer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * A {@link MigrationListener} that records one migration to a Micrometer {@link MeterRegistry}.
 * Give each migration its own instance ({@code MigrationOptions.builder().listener(metrics)}); the
 * meters it registers are shared by every instance with the same registry and tags, so counters
 * and timers add up over migrations.
 *
 * <p>Meters, all tagged {@code strategy} (e.g. {@code precopy}), plus {@code migration.id} if
 * {@link Builder#tagMigrationId(boolean) asked for}, plus the builder's own tags:
 * <ul>
 *   <li>counters {@value #WIRE_BYTES} (bytes sent on the wire, frames whole; base unit bytes),
 *       {@value #PAGES} (page entries sent, of every encoding) and {@value #ROUNDS} (memory rounds),
 *       counted as {@link MigrationEvent.Progress} reports them and topped up to the report's totals
 *       when the migration ends;</li>
 *   <li>timers {@value #DOWNTIME} (pause to resume, recorded when the migration completes or
 *       ended after pausing the VM) and {@value #DURATION} (the whole migration), both also tagged
 *       {@code status} ({@code completed}, {@code cancelled}, {@code failed});</li>
 *   <li>gauges of the running migration, fed by {@link MigrationEvent.Progress} and
 *       {@link MigrationEvent.RoundCompleted}: {@value #REMAINING} (bytes still to send),
 *       {@value #DIRTY_RATE} and {@value #BANDWIDTH} (bytes per second), {@value #THROTTLE}
 *       (percent of vCPU time taken away) and {@value #EXPECTED_DOWNTIME} (a time gauge).
 *       They are registered at the first of those events and removed from the registry when the
 *       migration ends, so a finished migration leaves none behind. Two migrations running at once
 *       with the same tags would share one set of gauges (Micrometer keeps the first
 *       registration): tag them apart ({@code migration.id} or a tag of your own).</li>
 * </ul>
 *
 * <p>Cardinality: {@code migration.id} is different for every migration, so with it each migration
 * adds a new counter and timer series that the registry keeps for its lifetime (and most
 * monitoring back-ends store for their retention). Leave it off (the default) for a long-running
 * process that migrates often; use it where migrations are few, or where the registry is
 * short-lived.
 *
 * <p>Events arrive on the migration's thread, one at a time ({@link MigrationListener}); the
 * gauges are read from whichever thread publishes the registry, so their values are kept in
 * volatile fields. Recording never throws for a well-formed event sequence; each event is then
 * passed on to the {@link Builder#then(MigrationListener) next listener}, if any, even if
 * recording failed.
 */
public final class LivemigMetrics implements MigrationListener {

    /** Counter: bytes sent on the wire. */
    public static final String WIRE_BYTES = "livemig.migration.wire";
    /** Counter: page entries sent. */
    public static final String PAGES = "livemig.migration.pages";
    /** Counter: memory rounds completed. */
    public static final String ROUNDS = "livemig.migration.rounds";
    /** Timer: the downtime, source pause to destination resume. */
    public static final String DOWNTIME = "livemig.migration.downtime";
    /** Timer: the whole migration. */
    public static final String DURATION = "livemig.migration.duration";
    /** Gauge: bytes still to send in the current round. */
    public static final String REMAINING = "livemig.migration.remaining";
    /** Gauge: the guest's dirty rate in bytes per second, as the last round measured it. */
    public static final String DIRTY_RATE = "livemig.migration.dirty.rate";
    /** Gauge: the send rate in bytes per second. */
    public static final String BANDWIDTH = "livemig.migration.bandwidth";
    /** Gauge: the vCPU throttle in percent, 0 for none. */
    public static final String THROTTLE = "livemig.migration.throttle";
    /** Time gauge: the downtime the last round predicted. */
    public static final String EXPECTED_DOWNTIME = "livemig.migration.expected.downtime";

    private static final String BYTES = "bytes";
    private static final String BYTES_PER_SECOND = "bytes.per.second";

    private final MeterRegistry registry;
    private final Tags extraTags;
    private final boolean tagMigrationId;
    private final MigrationListener next;
    private final List<Meter> gauges = new ArrayList<>();

    private Strategy strategy;
    private String migrationId;
    private long countedBytes;
    private long countedPages;
    private long countedRounds;
    private boolean ended;

    private volatile double remainingBytes;
    private volatile double dirtyBytesPerSecond;
    private volatile double bandwidthBytesPerSecond;
    private volatile double throttlePercent;
    private volatile double expectedDowntimeNanos;

    private LivemigMetrics(Builder b) {
        this.registry = b.registry;
        this.extraTags = b.tags;
        this.tagMigrationId = b.tagMigrationId;
        this.next = b.next;
    }

    /**
     * Starts a builder.
     *
     * @param registry where the meters are registered
     * @return a builder without extra tags, without the {@code migration.id} tag, with no next listener
     * @throws NullPointerException if {@code registry} is null
     */
    public static Builder builder(MeterRegistry registry) {
        return new Builder(Objects.requireNonNull(registry, "registry"));
    }

    /**
     * Makes a listener with the defaults of {@link #builder}.
     *
     * @param registry where the meters are registered
     * @return a listener for one migration
     * @throws NullPointerException if {@code registry} is null
     */
    public static LivemigMetrics of(MeterRegistry registry) {
        return builder(registry).build();
    }

    /**
     * Records {@code event}, then hands it to the next listener, if any.
     *
     * @param event the event
     */
    @Override
    public void onEvent(MigrationEvent event) {
        try {
            record(event);
        } finally {
            if (next != null) {
                next.onEvent(event);
            }
        }
    }

    private void record(MigrationEvent event) {
        switch (event) {
            case MigrationEvent.Started s -> strategy = s.strategy();
            case MigrationEvent.Progress p -> progress(p.progress());
            case MigrationEvent.RoundCompleted r -> round(r.stats());
            case MigrationEvent.Completed c -> end(c.report());
            case MigrationEvent.Failed f -> end(f.report());
            case MigrationEvent.EscalationApplied e -> { }
            case MigrationEvent.SwitchoverHeld h -> { }
            case MigrationEvent.SwitchoverStarted s -> { }
            case MigrationEvent.PostcopyStarted p -> { }
            case MigrationEvent.LinkRecovered l -> { }
        }
    }

    private void progress(MigrationProgress p) {
        migrationId = p.migrationId();
        remainingBytes = p.remainingBytes();
        dirtyBytesPerSecond = p.dirtyBytesPerSecond();
        bandwidthBytesPerSecond = p.bandwidthBytesPerSecond();
        throttlePercent = p.throttlePercent();
        expectedDowntimeNanos = nanos(p.expectedDowntime());
        registerGauges();
        countedBytes = count(WIRE_BYTES, BYTES, "Bytes sent on the wire", countedBytes, p.bytesOnWire());
        countedPages = count(PAGES, null, "Page entries sent", countedPages, p.pagesSent());
    }

    private void round(RoundStats stats) {
        remainingBytes = stats.remainingBytes();
        dirtyBytesPerSecond = stats.dirtyRateBytesPerSecond();
        bandwidthBytesPerSecond = stats.bandwidthBytesPerSecond();
        throttlePercent = stats.throttlePercent();
        expectedDowntimeNanos = nanos(stats.expectedDowntime());
        registerGauges();
        countedRounds = count(ROUNDS, null, "Memory rounds completed", countedRounds, countedRounds + 1);
    }

    private void end(MigrationReport report) {
        if (ended) {
            return;
        }
        ended = true;
        if (report.migrationId() != null && !report.migrationId().isEmpty()) {
            migrationId = report.migrationId();
        }
        if (strategy == null) {
            strategy = report.strategy();
        }
        for (Meter gauge : gauges) {
            registry.remove(gauge);
        }
        gauges.clear();
        countedBytes = count(WIRE_BYTES, BYTES, "Bytes sent on the wire", countedBytes, report.totals().bytesOnWire());
        countedPages = count(PAGES, null, "Page entries sent", countedPages, report.encodings().pagesSent());
        countedRounds = count(ROUNDS, null, "Memory rounds completed", countedRounds, report.totals().roundCount());
        Tags withStatus = tags().and("status", report.status().name().toLowerCase(Locale.ROOT));
        Duration downtime = report.switchover().downtime();
        if (report.status() == MigrationStatus.COMPLETED || !downtime.isZero()) {
            Timer.builder(DOWNTIME).description("Source pause to destination resume").tags(withStatus)
                    .register(registry).record(downtime);
        }
        Timer.builder(DURATION).description("The whole migration").tags(withStatus)
                .register(registry).record(report.totals().totalTime());
    }

    /** Counts up to {@code total} from {@code counted}; returns the new count (never lower). */
    private long count(String name, String baseUnit, String description, long counted, long total) {
        if (total <= counted || !taggable()) {
            return counted;
        }
        Counter.builder(name).baseUnit(baseUnit).description(description).tags(tags()).register(registry)
                .increment(total - counted);
        return total;
    }

    /** Whether the tags are known: with the id tag, only once an event carried the id. */
    private boolean taggable() {
        return !tagMigrationId || migrationId != null;
    }

    private void registerGauges() {
        if (!gauges.isEmpty() || ended || !taggable()) {
            return;
        }
        Tags tags = tags();
        gauges.add(gauge(REMAINING, BYTES, "Bytes still to send in the current round", tags, m -> m.remainingBytes));
        gauges.add(gauge(DIRTY_RATE, BYTES_PER_SECOND, "The guest's dirty rate over the last round", tags,
                m -> m.dirtyBytesPerSecond));
        gauges.add(gauge(BANDWIDTH, BYTES_PER_SECOND, "The send rate", tags, m -> m.bandwidthBytesPerSecond));
        gauges.add(gauge(THROTTLE, "percent", "The vCPU throttle", tags, m -> m.throttlePercent));
        gauges.add(TimeGauge.builder(EXPECTED_DOWNTIME, this, TimeUnit.NANOSECONDS, m -> m.expectedDowntimeNanos)
                .description("The downtime the last round predicted").tags(tags).strongReference(true)
                .register(registry));
    }

    private Gauge gauge(String name, String baseUnit, String description, Tags tags,
                        ToDoubleFunction<LivemigMetrics> value) {
        return Gauge.builder(name, this, value).baseUnit(baseUnit).description(description).tags(tags)
                .strongReference(true).register(registry);
    }

    private Tags tags() {
        Tags tags = extraTags.and("strategy", strategy == null ? "unknown" : strategy.name().toLowerCase(Locale.ROOT));
        return tagMigrationId ? tags.and("migration.id", migrationId) : tags;
    }

    private static double nanos(Duration d) {
        return d.getSeconds() * 1e9 + d.getNano();
    }

    /** Builds a {@link LivemigMetrics}. Not thread-safe. */
    public static final class Builder {

        private final MeterRegistry registry;
        private Tags tags = Tags.empty();
        private boolean tagMigrationId;
        private MigrationListener next;

        private Builder(MeterRegistry registry) {
            this.registry = registry;
        }

        /**
         * Adds tags to every meter (e.g. the host or the VM's name), after {@code strategy}.
         *
         * @param tags the tags; they must not be named {@code strategy}, {@code status} or
         *             {@code migration.id}
         * @return this
         * @throws IllegalArgumentException if a tag has one of the reserved names
         */
        public Builder tags(Iterable<Tag> tags) {
            for (Tag tag : tags) {
                if (List.of("strategy", "status", "migration.id").contains(tag.getKey())) {
                    throw new IllegalArgumentException("the tag " + tag.getKey() + " is livemig's own");
                }
            }
            this.tags = this.tags.and(tags);
            return this;
        }

        /**
         * Whether to tag every meter with the migration's id ({@code migration.id}). Off by
         * default: see the class comment on cardinality. With it, counters and gauges start at the
         * first {@link MigrationEvent.Progress} (the first event that carries the id), and what was
         * sent before it is counted then.
         *
         * @param tag whether to add the tag
         * @return this
         */
        public Builder tagMigrationId(boolean tag) {
            this.tagMigrationId = tag;
            return this;
        }

        /**
         * A listener that receives every event after it was recorded, such as the caller's own
         * listener: a migration takes one listener, and this is how both hear it.
         *
         * @param next the next listener, or null for none
         * @return this
         */
        public Builder then(MigrationListener next) {
            this.next = next;
            return this;
        }

        /** {@return a listener for one migration} */
        public LivemigMetrics build() {
            return new LivemigMetrics(this);
        }
    }
}
