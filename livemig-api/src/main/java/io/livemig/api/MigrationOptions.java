package io.livemig.api;

import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.Optional;
import java.util.concurrent.ThreadFactory;

/**
 * How to run a migration. Immutable and thread-safe; build one with {@link #builder()}, derive
 * variants with {@link #toBuilder()}. Every setter validates at once and throws
 * {@link IllegalArgumentException} for a bad value.
 *
 * <pre>{@code
 * MigrationOptions options = MigrationOptions.builder()
 *         .strategy(Strategy.COLD)
 *         .downtimeLimit(Duration.ofMillis(50))
 *         .bandwidthLimitBytesPerSecond(512L << 20)
 *         .build();
 * }</pre>
 *
 * <p>The same options object is given to both sides; the destination uses only the settings that
 * concern it ({@link #ioTimeout()}, {@link #verify()}, {@link #timeSource()},
 * {@link #listener()}).
 */
public final class MigrationOptions {

    /** Default {@link #downtimeLimit()}: 300 ms, as QEMU. */
    public static final Duration DEFAULT_DOWNTIME_LIMIT = Duration.ofMillis(300);
    /** Default {@link #maxRounds()}: 30, as Xen's 29 iterative rounds plus the last. */
    public static final int DEFAULT_MAX_ROUNDS = 30;
    /** Default {@link #batchPages()}: 256 pages, 1 MiB of 4 KiB pages per frame. */
    public static final int DEFAULT_BATCH_PAGES = 256;
    /** Default {@link #ioTimeout()}: 30 s without progress on the channel. */
    public static final Duration DEFAULT_IO_TIMEOUT = Duration.ofSeconds(30);
    /** Default {@link #stallRounds()}: 3 rounds without progress before the ladder acts. */
    public static final int DEFAULT_STALL_ROUNDS = 3;
    /** Default {@link #recoveryWindow()}: 60 s. */
    public static final Duration DEFAULT_RECOVERY_WINDOW = Duration.ofSeconds(60);
    /** Most {@link #streams()}: 16 data connections, as many as a destination accepts by default. */
    public static final int MAX_STREAMS = 16;
    /**
     * Default {@link #escalation()}: auto-converge with QEMU's steps, then abort. It never exceeds
     * the downtime limit unasked and always leaves the VM running somewhere.
     */
    public static final List<EscalationStep> DEFAULT_ESCALATION = List.of(EscalationStep.AutoConverge.QEMU_DEFAULTS,
            new EscalationStep.Abort());

    private final Strategy strategy;
    private final Duration downtimeLimit;
    private final long bandwidthLimitBytesPerSecond;
    /** -1: as {@link #bandwidthLimitBytesPerSecond}. */
    private final long postcopyBandwidthLimitBytesPerSecond;
    private final int maxRounds;
    private final Duration maxTotalTime;
    private final boolean verify;
    private final int batchPages;
    private final Duration ioTimeout;
    private final TimeSource timeSource;
    private final MigrationListener listener;
    private final List<EscalationStep> escalation;
    private final int stallRounds;
    private final Prepaging prepaging;
    private final boolean useFreePageHints;
    private final int hybridRounds;
    private final Set<Codec> codecs;
    private final long xbzrleCacheBytes;
    private final int zstdLevel;
    private final int encoderThreads;
    private final int streams;
    private final MigrationSecret secret;
    private final ReceiveLimits receiveLimits;
    private final VmExpectation expectation;
    private final Duration recoveryWindow;
    private final DiskCopyMode diskCopyMode;
    private final PassThroughPolicy passThrough;
    private final Duration progressInterval;
    private final Duration switchoverHoldTimeout;
    private final boolean keepPausedAtDestination;
    private final boolean traceReplayFallback;
    private final ThreadFactory threadFactory;

    private MigrationOptions(Builder b) {
        this.strategy = b.strategy;
        this.downtimeLimit = b.downtimeLimit;
        this.bandwidthLimitBytesPerSecond = b.bandwidthLimitBytesPerSecond;
        this.postcopyBandwidthLimitBytesPerSecond = b.postcopyBandwidthLimitBytesPerSecond;
        this.maxRounds = b.maxRounds;
        this.maxTotalTime = b.maxTotalTime;
        this.verify = b.verify;
        this.batchPages = b.batchPages;
        this.ioTimeout = b.ioTimeout;
        this.timeSource = b.timeSource;
        this.listener = b.listener;
        this.escalation = b.escalation;
        this.stallRounds = b.stallRounds;
        this.prepaging = b.prepaging;
        this.useFreePageHints = b.useFreePageHints;
        this.hybridRounds = b.hybridRounds;
        this.codecs = b.codecs;
        this.xbzrleCacheBytes = b.xbzrleCacheBytes;
        this.zstdLevel = b.zstdLevel;
        this.encoderThreads = b.encoderThreads;
        this.streams = b.streams;
        this.secret = b.secret;
        this.receiveLimits = b.receiveLimits;
        this.expectation = b.expectation;
        this.recoveryWindow = b.recoveryWindow;
        this.diskCopyMode = b.diskCopyMode;
        this.passThrough = b.passThrough;
        this.progressInterval = b.progressInterval;
        this.switchoverHoldTimeout = b.switchoverHoldTimeout;
        this.keepPausedAtDestination = b.keepPausedAtDestination;
        this.traceReplayFallback = b.traceReplayFallback;
        this.threadFactory = b.threadFactory;
        if (keepPausedAtDestination && (strategy == Strategy.POSTCOPY || strategy == Strategy.HYBRID)) {
            throw new IllegalArgumentException("keepPausedAtDestination cannot be combined with " + strategy
                    + ": post-copy needs the VM running at the destination to fetch its pages");
        }
    }

    /** {@return a builder with every default} */
    public static Builder builder() {
        return new Builder();
    }

    /** {@return the defaults: pre-copy, 300 ms downtime limit, no bandwidth cap, verification on} */
    public static MigrationOptions defaults() {
        return builder().build();
    }

    /** {@return a builder holding this object's values} */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** {@return the strategy; default {@link Strategy#PRECOPY}} */
    public Strategy strategy() {
        return strategy;
    }

    /** {@return the longest acceptable pause of the VM; default 300 ms} */
    public Duration downtimeLimit() {
        return downtimeLimit;
    }

    /**
     * {@return the bandwidth cap on the forward stream in bytes per second; 0 means no cap (the
     * default)}
     */
    public long bandwidthLimitBytesPerSecond() {
        return bandwidthLimitBytesPerSecond;
    }

    /**
     * The bandwidth cap once the VM runs at the destination (post-copy and hybrid's post-copy
     * phase), as QEMU's {@code max-postcopy-bandwidth}: the guest waits for pages there, so a
     * control plane often lets this phase use the whole link while it capped the live copy.
     *
     * @return the cap in bytes per second, 0 for none; by default the same as
     *         {@link #bandwidthLimitBytesPerSecond()}
     */
    public long postcopyBandwidthLimitBytesPerSecond() {
        return postcopyBandwidthLimitBytesPerSecond < 0 ? bandwidthLimitBytesPerSecond
                : postcopyBandwidthLimitBytesPerSecond;
    }

    /**
     * {@return the most memory rounds before switchover is forced or the escalation ladder acts;
     * default 30}
     */
    public int maxRounds() {
        return maxRounds;
    }

    /**
     * {@return the longest the migration may take before the escalation ladder acts; empty means no
     * limit (the default)}
     */
    public Optional<Duration> maxTotalTime() {
        return Optional.ofNullable(maxTotalTime);
    }

    /**
     * Whether to compare every page's digest between source (at pause) and destination (at
     * resume). The destination digests pages as they land and the source after the switchover,
     * so verification costs CPU but no downtime.
     *
     * @return whether pages are verified; default true
     */
    public boolean verify() {
        return verify;
    }

    /** {@return the most pages per page-batch frame; default 256} */
    public int batchPages() {
        return batchPages;
    }

    /**
     * {@return how long a channel operation may make no progress before the migration fails;
     * default 30 s}
     */
    public Duration ioTimeout() {
        return ioTimeout;
    }

    /** {@return the clock and sleeper for everything timed; default {@link TimeSource#system()}} */
    public TimeSource timeSource() {
        return timeSource;
    }

    /** {@return the event listener; default {@link MigrationListener#NONE}} */
    public MigrationListener listener() {
        return listener;
    }

    /** {@return the pre-copy escalation ladder, in order; default {@link #DEFAULT_ESCALATION}} */
    public List<EscalationStep> escalation() {
        return escalation;
    }

    /**
     * {@return how many consecutive rounds without progress (dirty rate at or above the transfer
     * rate, or no new low of the remaining bytes) count as a stall; default 3}
     */
    public int stallRounds() {
        return stallRounds;
    }

    /** {@return how post-copy orders its background push; default {@link Prepaging#BUBBLING}} */
    public Prepaging prepaging() {
        return prepaging;
    }

    /**
     * {@return whether to skip the pages the guest reports free (self-ballooning, free-page
     * hinting), when its VM offers hints; default true}
     */
    public boolean useFreePageHints() {
        return useFreePageHints;
    }

    /**
     * {@return for {@link Strategy#HYBRID}: the most pre-copy rounds before switching to post-copy
     * (fewer if pre-copy stalls or converges first); default 3}
     */
    public int hybridRounds() {
        return hybridRounds;
    }

    /** {@return the page codecs to use besides zero and raw pages; default none} */
    public Set<Codec> codecs() {
        return codecs;
    }

    /** {@return bytes of page copies the XBZRLE cache keeps on the source; default 64 MiB, as QEMU} */
    public long xbzrleCacheBytes() {
        return xbzrleCacheBytes;
    }

    /** {@return the Zstd compression level, 1 to 19; default 3} */
    public int zstdLevel() {
        return zstdLevel;
    }

    /**
     * How many threads read and encode pages in parallel during pre-copy and stop-copy rounds.
     * With more than one, pages are split in 2 MiB blocks between the threads, each with its own share of the XBZRLE
     * cache, and every round's frames are all sent before the next round starts, so an
     * older version of a page never overtakes a newer one. Worth it when encoding, not
     * the link, limits a round (codecs on, fast link, spare cores).
     *
     * @return the encoder threads, 1 to 64; default 1 (the migration thread encodes)
     */
    public int encoderThreads() {
        return encoderThreads;
    }

    /**
     * How many data connections pages travel on. With N above 1 the source opens N more
     * connections to the destination after the handshake (QEMU's multifd), through the
     * {@link io.livemig.channel.Reconnector} given to {@code LiveMigration.migrate}, greets
     * each with the migration's session id and secret, and spreads pre-copy and stop-copy
     * pages over them in 2 MiB blocks, each connection with its own encoder thread (so
     * {@link #encoderThreads()} is not used) and its own share of the XBZRLE cache; the first
     * channel keeps the handshake, the switchover and the return path. In post-copy the
     * background push goes on the data connections and demanded pages on the first channel,
     * ahead of the push (QEMU's postcopy-preempt). The destination must accept them: it
     * receives from a listener, or was given a reconnector. Worth it when one connection's
     * CPU (copying, TLS, codecs), not the link, limits a round.
     *
     * @return the data connections, 1 to {@value #MAX_STREAMS}; default 1 (pages share the one
     *         channel with everything else)
     */
    public int streams() {
        return streams;
    }

    /**
     * The secret both sides of this migration share, if the control plane gave one: each side
     * then proves it at the handshake and on every recovery connection, and refuses a peer that
     * cannot (see {@link MigrationSecret}).
     *
     * @return the secret, or empty for no authentication beyond the channel's own (use TLS); the
     *         default
     */
    public Optional<MigrationSecret> secret() {
        return Optional.ofNullable(secret);
    }

    /**
     * {@return the destination's caps on what the source may make it allocate; default
     * {@link ReceiveLimits#DEFAULTS}}
     */
    public ReceiveLimits receiveLimits() {
        return receiveLimits;
    }

    /** {@return what the destination expects of the VM; default {@link VmExpectation#ANY}} */
    public VmExpectation expectation() {
        return expectation;
    }

    /**
     * {@return how long either side keeps trying to get a new channel after a break in post-copy or
     * at the switchover (with backoff), before it gives up; default 60 s}
     */
    public Duration recoveryWindow() {
        return recoveryWindow;
    }

    /**
     * {@return what the migration does with each pass-through device: migrate its state, fail it
     * over (unplug at the source, plug at the destination) or refuse; default
     * {@link PassThroughPolicy#NONE}, every device migrating its state}
     */
    public PassThroughPolicy passThroughPolicy() {
        return passThrough;
    }

    /**
     * {@return how disks are copied while the VM runs; default {@link DiskCopyMode#BACKGROUND}}
     */
    public DiskCopyMode diskCopyMode() {
        return diskCopyMode;
    }

    /**
     * How often the source emits {@link MigrationEvent.Progress} while a round, the switchover or
     * post-copy runs (on the options' clock, so virtual time gives virtual intervals).
     *
     * @return the interval; {@link Duration#ZERO} for no progress events; default 1 s
     */
    public Duration progressInterval() {
        return progressInterval;
    }

    /**
     * The switchover hold: when set, the source does not pause the VM once the rest fits the
     * limit, but emits {@link MigrationEvent.SwitchoverHeld} and keeps copying what the guest
     * dirties until the caller releases it (the engine's {@code Migration.releaseSwitchover()}),
     * for a hand-over of the network or storage first. If not released within this time the
     * migration is aborted and the VM keeps running at the source.
     *
     * @return the longest hold, or empty for no hold (the default)
     */
    public Optional<Duration> switchoverHoldTimeout() {
        return Optional.ofNullable(switchoverHoldTimeout);
    }

    /**
     * A destination-side setting, as libvirt's {@code VIR_MIGRATE_PAUSED}: the destination loads
     * the VM's state but leaves its vCPUs paused; the caller resumes it with
     * {@code target.vcpus().resume()}. The source's downtime then ends when the destination holds
     * the VM. Cannot be combined with post-copy or hybrid (their pages arrive while the VM runs).
     * Devices that migrate by their data stream are started all the same (only the vCPUs wait).
     * A failover device's plug needs the guest running to take it, so with the VM kept paused it
     * would time out: do not combine the two.
     *
     * @return whether the VM stays paused at the destination; default false
     */
    public boolean keepPausedAtDestination() {
        return keepPausedAtDestination;
    }

    /**
     * What a {@link Strategy#TRACE_REPLAY} migration does with a VM whose provider cannot record it
     * (no {@code ExecutionRecorder}): false (the default) refuses it before anything is sent, with
     * an error that says why; true runs it as {@link Strategy#PRECOPY} instead, and the report says
     * so. A destination that cannot replay refuses the migration in the handshake either way.
     *
     * @return whether to fall back to pre-copy; default false
     */
    public boolean traceReplayFallback() {
        return traceReplayFallback;
    }

    /**
     * Where the migration's threads come from: its own thread ({@code LiveMigration.start}), the
     * encoder and stream threads, the return-path reader, the disk mirror, and the destination's
     * request and data-connection threads. They are long-lived and must be able to block, so a
     * virtual-thread factory works too. Threads a provider makes (e.g. KVM's vCPU threads) are the
     * provider's.
     *
     * @return the caller's factory, or empty for livemig's own (platform daemon threads named
     *         {@code livemig-*}, the default)
     */
    public Optional<ThreadFactory> threadFactory() {
        return Optional.ofNullable(threadFactory);
    }

    @Override
    public String toString() {
        return "MigrationOptions[strategy=" + strategy + ", downtimeLimit=" + downtimeLimit
                + ", bandwidthLimitBytesPerSecond=" + bandwidthLimitBytesPerSecond
                + ", postcopyBandwidthLimitBytesPerSecond=" + postcopyBandwidthLimitBytesPerSecond() + ", maxRounds=" + maxRounds
                + ", maxTotalTime=" + maxTotalTime + ", verify=" + verify + ", batchPages=" + batchPages
                + ", ioTimeout=" + ioTimeout + ", escalation=" + escalation + ", stallRounds=" + stallRounds + ", prepaging=" + prepaging
                + ", useFreePageHints=" + useFreePageHints + ", hybridRounds=" + hybridRounds + ", codecs=" + codecs
                + ", xbzrleCacheBytes=" + xbzrleCacheBytes + ", zstdLevel=" + zstdLevel + ", encoderThreads="
                + encoderThreads + ", streams=" + streams + ", secret=" + (secret == null ? "none" : "set")
                + ", receiveLimits=" + receiveLimits
                + ", expectation=" + expectation + ", recoveryWindow=" + recoveryWindow
                + ", diskCopyMode=" + diskCopyMode + ", progressInterval=" + progressInterval
                + ", switchoverHoldTimeout=" + switchoverHoldTimeout + ", keepPausedAtDestination="
                + keepPausedAtDestination + ", threadFactory=" + (threadFactory == null ? "livemig's" : "the caller's") + "]";
    }

    /** Builds {@link MigrationOptions}. Not thread-safe; every setter validates at once. */
    public static final class Builder {
        private Strategy strategy = Strategy.PRECOPY;
        private Duration downtimeLimit = DEFAULT_DOWNTIME_LIMIT;
        private long bandwidthLimitBytesPerSecond;
        private long postcopyBandwidthLimitBytesPerSecond = -1;
        private int maxRounds = DEFAULT_MAX_ROUNDS;
        private Duration maxTotalTime;
        private boolean verify = true;
        private int batchPages = DEFAULT_BATCH_PAGES;
        private Duration ioTimeout = DEFAULT_IO_TIMEOUT;
        private TimeSource timeSource = TimeSource.system();
        private MigrationListener listener = MigrationListener.NONE;
        private List<EscalationStep> escalation = DEFAULT_ESCALATION;
        private int stallRounds = DEFAULT_STALL_ROUNDS;
        private Prepaging prepaging = Prepaging.BUBBLING;
        private boolean useFreePageHints = true;
        private int hybridRounds = 3;
        private Set<Codec> codecs = Set.of();
        private long xbzrleCacheBytes = 64L << 20;
        private int zstdLevel = 3;
        private int encoderThreads = 1;
        private int streams = 1;
        private MigrationSecret secret;
        private ReceiveLimits receiveLimits = ReceiveLimits.DEFAULTS;
        private VmExpectation expectation = VmExpectation.ANY;
        private Duration recoveryWindow = DEFAULT_RECOVERY_WINDOW;
        private DiskCopyMode diskCopyMode = DiskCopyMode.BACKGROUND;
        private PassThroughPolicy passThrough = PassThroughPolicy.NONE;
        private Duration progressInterval = Duration.ofSeconds(1);
        private Duration switchoverHoldTimeout;
        private boolean keepPausedAtDestination;
        private boolean traceReplayFallback;
        private ThreadFactory threadFactory;

        private Builder() {
        }

        private Builder(MigrationOptions o) {
            strategy = o.strategy;
            downtimeLimit = o.downtimeLimit;
            bandwidthLimitBytesPerSecond = o.bandwidthLimitBytesPerSecond;
            postcopyBandwidthLimitBytesPerSecond = o.postcopyBandwidthLimitBytesPerSecond;
            maxRounds = o.maxRounds;
            maxTotalTime = o.maxTotalTime;
            verify = o.verify;
            batchPages = o.batchPages;
            ioTimeout = o.ioTimeout;
            timeSource = o.timeSource;
            listener = o.listener;
            escalation = o.escalation;
            stallRounds = o.stallRounds;
            prepaging = o.prepaging;
            useFreePageHints = o.useFreePageHints;
            hybridRounds = o.hybridRounds;
            codecs = o.codecs;
            xbzrleCacheBytes = o.xbzrleCacheBytes;
            zstdLevel = o.zstdLevel;
            encoderThreads = o.encoderThreads;
            streams = o.streams;
            secret = o.secret;
            receiveLimits = o.receiveLimits;
            expectation = o.expectation;
            recoveryWindow = o.recoveryWindow;
            diskCopyMode = o.diskCopyMode;
            passThrough = o.passThrough;
            progressInterval = o.progressInterval;
            switchoverHoldTimeout = o.switchoverHoldTimeout;
            keepPausedAtDestination = o.keepPausedAtDestination;
            traceReplayFallback = o.traceReplayFallback;
            threadFactory = o.threadFactory;
        }

        /**
         * Sets how memory is moved: pre-copy, post-copy, hybrid or cold. Default
         * {@link Strategy#PRECOPY}.
         *
         * @param strategy the strategy
         * @return this builder
         * @throws NullPointerException if {@code strategy} is null
         */
        public Builder strategy(Strategy strategy) {
            this.strategy = Objects.requireNonNull(strategy, "strategy");
            return this;
        }

        /**
         * Sets the longest acceptable pause of the VM at the switchover: pre-copy switches over once
         * the rest can be sent within it. Default 300 ms.
         *
         * @param limit the downtime limit, positive
         * @return this builder
         * @throws IllegalArgumentException if {@code limit} is zero or negative
         */
        public Builder downtimeLimit(Duration limit) {
            this.downtimeLimit = positive(limit, "downtimeLimit");
            return this;
        }

        /**
         * Caps the bandwidth of the forward stream (pages, disk blocks and state), in bytes per
         * second. Default 0, no cap.
         *
         * @param bytesPerSecond the cap in bytes per second, 0 for none
         * @return this builder
         * @throws IllegalArgumentException if negative
         */
        public Builder bandwidthLimitBytesPerSecond(long bytesPerSecond) {
            if (bytesPerSecond < 0) {
                throw new IllegalArgumentException("bandwidthLimitBytesPerSecond must be >= 0, was " + bytesPerSecond);
            }
            this.bandwidthLimitBytesPerSecond = bytesPerSecond;
            return this;
        }

        /**
         * Caps the post-copy phase separately (see
         * {@link MigrationOptions#postcopyBandwidthLimitBytesPerSecond()}); without this call it
         * has the live copy's cap.
         *
         * @param bytesPerSecond the cap once the VM runs at the destination, 0 for none
         * @return this builder
         * @throws IllegalArgumentException if negative
         */
        public Builder postcopyBandwidthLimitBytesPerSecond(long bytesPerSecond) {
            if (bytesPerSecond < 0) {
                throw new IllegalArgumentException("postcopyBandwidthLimitBytesPerSecond must be >= 0, was "
                        + bytesPerSecond);
            }
            this.postcopyBandwidthLimitBytesPerSecond = bytesPerSecond;
            return this;
        }

        /**
         * Sets the most memory rounds before the switchover is forced or the escalation ladder acts.
         * Default {@value MigrationOptions#DEFAULT_MAX_ROUNDS}.
         *
         * @param rounds the most memory rounds, 1 to 10,000
         * @return this builder
         * @throws IllegalArgumentException if out of range
         */
        public Builder maxRounds(int rounds) {
            if (rounds < 1 || rounds > 10_000) {
                throw new IllegalArgumentException("maxRounds must be in [1, 10000], was " + rounds);
            }
            this.maxRounds = rounds;
            return this;
        }

        /**
         * Sets the longest the migration may take before the escalation ladder acts. Default none.
         *
         * @param limit the longest total time, positive, or null for no limit
         * @return this builder
         * @throws IllegalArgumentException if {@code limit} is zero or negative
         */
        public Builder maxTotalTime(Duration limit) {
            this.maxTotalTime = limit == null ? null : positive(limit, "maxTotalTime");
            return this;
        }

        /**
         * Turns the comparison of every page's digest between source and destination on or off; it
         * costs CPU but no downtime. Default on.
         *
         * @param verify whether to verify every page's digest
         * @return this builder
         */
        public Builder verify(boolean verify) {
            this.verify = verify;
            return this;
        }

        /**
         * Sets the most pages per page-batch frame. Default
         * {@value MigrationOptions#DEFAULT_BATCH_PAGES}.
         *
         * @param pages the most pages per frame, 1 to 4096
         * @return this builder
         * @throws IllegalArgumentException if out of range
         */
        public Builder batchPages(int pages) {
            if (pages < 1 || pages > 4096) {
                throw new IllegalArgumentException("batchPages must be in [1, 4096], was " + pages);
            }
            this.batchPages = pages;
            return this;
        }

        /**
         * Sets how long a channel operation may make no progress before the migration fails. Default
         * 30 s.
         *
         * @param timeout how long channel operations may stall, positive
         * @return this builder
         * @throws IllegalArgumentException if {@code timeout} is zero or negative
         */
        public Builder ioTimeout(Duration timeout) {
            this.ioTimeout = positive(timeout, "ioTimeout");
            return this;
        }

        /**
         * Sets the clock and sleeper for everything timed. Default {@link TimeSource#system()}.
         *
         * @param timeSource the time source (a virtual clock in deterministic tests)
         * @return this builder
         * @throws NullPointerException if {@code timeSource} is null
         */
        public Builder timeSource(TimeSource timeSource) {
            this.timeSource = Objects.requireNonNull(timeSource, "timeSource");
            return this;
        }

        /**
         * Sets the listener that hears the migration's events. Default {@link MigrationListener#NONE}.
         *
         * @param listener the event listener
         * @return this builder
         * @throws NullPointerException if {@code listener} is null
         */
        public Builder listener(MigrationListener listener) {
            this.listener = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /**
         * Sets the escalation ladder: what pre-copy tries, in order, when it stalls or runs out of
         * rounds or time. Default {@link MigrationOptions#DEFAULT_ESCALATION}.
         *
         * @param steps the escalation ladder, tried in order; may be empty (then a stall aborts).
         *              Steps after a terminal one would never run and are rejected.
         * @return this builder
         * @throws IllegalArgumentException if a terminal step is followed by another
         */
        public Builder escalation(List<EscalationStep> steps) {
            List<EscalationStep> copy = List.copyOf(steps);
            for (int i = 0; i < copy.size() - 1; i++) {
                if (copy.get(i).terminal()) {
                    throw new IllegalArgumentException("escalation step " + copy.get(i)
                            + " ends the pre-copy phase; the steps after it could never run: " + copy);
                }
            }
            this.escalation = copy;
            return this;
        }

        /**
         * Sets how many consecutive rounds without progress count as a stall, after which the
         * escalation ladder acts. Default {@value MigrationOptions#DEFAULT_STALL_ROUNDS}.
         *
         * @param rounds consecutive rounds without progress that count as a stall, 1 to 100
         * @return this builder
         * @throws IllegalArgumentException if out of range
         */
        public Builder stallRounds(int rounds) {
            if (rounds < 1 || rounds > 100) {
                throw new IllegalArgumentException("stallRounds must be in [1, 100], was " + rounds);
            }
            this.stallRounds = rounds;
            return this;
        }

        /**
         * Sets the order of post-copy's background push. Default {@link Prepaging#BUBBLING}.
         *
         * @param order the post-copy push order
         * @return this builder
         * @throws NullPointerException if {@code order} is null
         */
        public Builder prepaging(Prepaging order) {
            this.prepaging = Objects.requireNonNull(order, "order");
            return this;
        }

        /**
         * Turns on or off skipping the pages the guest reports free, when its VM offers hints.
         * Default on.
         *
         * @param use whether to skip pages the guest reports free
         * @return this builder
         */
        public Builder useFreePageHints(boolean use) {
            this.useFreePageHints = use;
            return this;
        }

        /**
         * Sets the most pre-copy rounds of a {@link Strategy#HYBRID} migration before it switches to
         * post-copy. Default 3.
         *
         * @param rounds most pre-copy rounds of a hybrid migration, 1 to 1000
         * @return this builder
         * @throws IllegalArgumentException if out of range
         */
        public Builder hybridRounds(int rounds) {
            if (rounds < 1 || rounds > 1000) {
                throw new IllegalArgumentException("hybridRounds must be in [1, 1000], was " + rounds);
            }
            this.hybridRounds = rounds;
            return this;
        }

        /**
         * Sets the page codecs to use besides zero and raw pages. Default none.
         *
         * @param use the page codecs; the set is copied
         * @return this builder
         * @throws NullPointerException if {@code use} is null
         */
        public Builder codecs(Set<Codec> use) {
            this.codecs = use.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(use));
            return this;
        }

        /**
         * Sets how many bytes of page copies the XBZRLE cache keeps on the source. Default 64 MiB.
         *
         * @param bytes the XBZRLE cache size in bytes, 64 KiB to 2 GiB
         * @return this builder
         * @throws IllegalArgumentException if out of range
         */
        public Builder xbzrleCacheBytes(long bytes) {
            if (bytes < (64 << 10) || bytes > (2L << 30) - 1) {
                throw new IllegalArgumentException("xbzrleCacheBytes must be in [64 KiB, 2 GiB), was " + bytes);
            }
            this.xbzrleCacheBytes = bytes;
            return this;
        }

        /**
         * Sets the Zstd compression level. Default 3.
         *
         * @param level the Zstd level, 1 to 19
         * @return this builder
         * @throws IllegalArgumentException if out of range
         */
        public Builder zstdLevel(int level) {
            if (level < 1 || level > 19) {
                throw new IllegalArgumentException("zstdLevel must be in [1, 19], was " + level);
            }
            this.zstdLevel = level;
            return this;
        }

        /**
         * Sets how many threads read and encode pages in parallel in pre-copy and stop-copy rounds
         * (see {@link MigrationOptions#encoderThreads()}). Default 1.
         *
         * @param threads encoder threads, 1 to 64
         * @return this builder
         * @throws IllegalArgumentException if out of range
         */
        public Builder encoderThreads(int threads) {
            if (threads < 1 || threads > 64) {
                throw new IllegalArgumentException("encoderThreads must be in [1, 64], was " + threads);
            }
            this.encoderThreads = threads;
            return this;
        }

        /**
         * Sets how many data connections pages travel on (see {@link MigrationOptions#streams()}).
         * Default 1.
         *
         * @param streams data connections, 1 to {@value MigrationOptions#MAX_STREAMS} (see
         *                {@link MigrationOptions#streams()})
         * @return this builder
         * @throws IllegalArgumentException if out of range
         */
        public Builder streams(int streams) {
            if (streams < 1 || streams > MAX_STREAMS) {
                throw new IllegalArgumentException("streams must be in [1, " + MAX_STREAMS + "], was " + streams);
            }
            this.streams = streams;
            return this;
        }

        /**
         * Sets the secret both sides prove at the handshake and on every recovery connection (see
         * {@link MigrationOptions#secret()}). Default none.
         *
         * @param secret the secret both sides share, or null for none
         * @return this builder
         */
        public Builder secret(MigrationSecret secret) {
            this.secret = secret;
            return this;
        }

        /**
         * Sets the destination's caps on what the source may make it allocate. Default
         * {@link ReceiveLimits#DEFAULTS}.
         *
         * @param limits the destination's caps
         * @return this builder
         * @throws NullPointerException if {@code limits} is null
         */
        public Builder receiveLimits(ReceiveLimits limits) {
            this.receiveLimits = Objects.requireNonNull(limits, "limits");
            return this;
        }

        /**
         * Sets what the destination expects of the VM it receives. Default {@link VmExpectation#ANY}.
         *
         * @param expected what the destination expects of the VM
         * @return this builder
         * @throws NullPointerException if {@code expected} is null
         */
        public Builder expectation(VmExpectation expected) {
            this.expectation = Objects.requireNonNull(expected, "expected");
            return this;
        }

        /**
         * Sets how long either side keeps trying to get a new channel after a break in post-copy or
         * at the switchover. Default 60 s.
         *
         * @param window how long to keep trying for a new channel after a break, positive
         * @return this builder
         * @throws IllegalArgumentException if {@code window} is zero or negative
         */
        public Builder recoveryWindow(Duration window) {
            this.recoveryWindow = positive(window, "recoveryWindow");
            return this;
        }

        /**
         * Sets how disks are copied while the VM runs. Default {@link DiskCopyMode#BACKGROUND}.
         *
         * @param mode how disks are copied while the VM runs
         * @return this builder
         * @throws NullPointerException if {@code mode} is null
         */
        public Builder diskCopyMode(DiskCopyMode mode) {
            this.diskCopyMode = Objects.requireNonNull(mode, "mode");
            return this;
        }

        /**
         * Sets what the migration does with each pass-through device; see
         * {@link MigrationOptions#passThroughPolicy()}.
         *
         * @param policy the policy; give both sides the same one
         * @return this builder
         */
        public Builder passThrough(PassThroughPolicy policy) {
            this.passThrough = Objects.requireNonNull(policy, "policy");
            return this;
        }

        /**
         * Sets how often progress events are emitted; see {@link MigrationOptions#progressInterval()}.
         *
         * @param interval the interval, {@link Duration#ZERO} for none; not negative
         * @return this builder
         */
        public Builder progressInterval(Duration interval) {
            Objects.requireNonNull(interval, "interval");
            if (interval.isNegative()) {
                throw new IllegalArgumentException("progressInterval must not be negative, was " + interval);
            }
            this.progressInterval = interval;
            return this;
        }

        /**
         * Holds the switchover until the caller releases it; see
         * {@link MigrationOptions#switchoverHoldTimeout()}.
         *
         * @param timeout the longest hold, positive, or null for no hold
         * @return this builder
         */
        public Builder holdSwitchover(Duration timeout) {
            this.switchoverHoldTimeout = timeout == null ? null : positive(timeout, "switchoverHoldTimeout");
            return this;
        }

        /**
         * Leaves the VM paused at the destination; see {@link MigrationOptions#keepPausedAtDestination()}.
         *
         * @param keepPaused whether to leave it paused
         * @return this builder
         */
        public Builder keepPausedAtDestination(boolean keepPaused) {
            this.keepPausedAtDestination = keepPaused;
            return this;
        }

        /**
         * Runs a trace-and-replay migration of a VM that cannot be recorded as pre-copy instead of
         * refusing it; see {@link MigrationOptions#traceReplayFallback()}.
         *
         * @param fallback whether to fall back to pre-copy
         * @return this builder
         */
        public Builder traceReplayFallback(boolean fallback) {
            this.traceReplayFallback = fallback;
            return this;
        }

        /**
         * Makes the migration's threads with {@code factory}; see {@link MigrationOptions#threadFactory()}.
         *
         * @param factory the factory, or null for livemig's own
         * @return this builder
         */
        public Builder threadFactory(ThreadFactory factory) {
            this.threadFactory = factory;
            return this;
        }

        /**
         * Builds the options from this builder's values; the builder may be used again.
         *
         * @return the options
         * @throws IllegalArgumentException if {@code keepPausedAtDestination} is combined with a
         *                                  post-copy or hybrid strategy
         */
        public MigrationOptions build() {
            return new MigrationOptions(this);
        }

        private static Duration positive(Duration d, String name) {
            Objects.requireNonNull(d, name);
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(name + " must be positive, was " + d);
            }
            return d;
        }
    }
}
