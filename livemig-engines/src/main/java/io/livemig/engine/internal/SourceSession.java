package io.livemig.engine.internal;

import io.livemig.api.ChannelException;
import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.ProtocolException;
import io.livemig.api.RoundStats;
import io.livemig.api.SourceVmState;
import io.livemig.api.Verification;
import io.livemig.channel.Channel;
import io.livemig.compress.PageEncoding;
import io.livemig.compress.ZeroPages;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.Messages;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MemorySource;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The source side of one migration: the primitives strategies are built from (handshake, send a
 * page set as one round, pause, commit the switchover, verify) and the bookkeeping behind the
 * report. It tracks where the VM is at every moment, so that a failure at any point says so
 * truthfully and leaves the VM in the safest state: running at the source if the destination
 * has not been told to resume, paused if it may have been.
 *
 * <p>Owned by the migration's thread; only {@link #cancel()} may be called from elsewhere.
 */
public final class SourceSession {

    private static final Logger LOG = LoggerFactory.getLogger(SourceSession.class);

    private final MigratableVm vm;
    /** The current channel; replaced when a post-copy link is recovered. Engine thread only. */
    private Channel channel;
    private final MigrationOptions options;
    private final io.livemig.api.TimeSource time;
    private final MemoryLayout layout;
    private final MemorySource memory;
    private final int pageSize;
    private ReturnPath returnPath;
    private final TokenBucket bandwidth;
    /** Builds PAGES frames on the migration thread: every page with one encoder thread, post-copy always. */
    private PageFramer framer;
    /** The parallel encoders of pre-copy and stop-copy rounds; null with one encoder thread. */
    private EncoderPool pool;
    private final List<RoundStats> rounds = new ArrayList<>();

    private FrameWriter writer;
    private int batchPages;
    private long agreedEncodings;
    private volatile boolean cancelRequested;

    private MigrationPhase phase = MigrationPhase.HANDSHAKE;
    private SourceVmState vmState = SourceVmState.RUNNING;
    private boolean pausedByUs;
    private boolean commitSent;
    private long startNanos;
    private long pauseNanos = -1;
    private long resumedNanos = -1;
    private long verifyStartNanos = -1;
    private long bytesOnWire;
    private Duration expectedDowntime = Duration.ZERO;
    private Verification verification = Verification.NOT_CHECKED;
    private long mismatchedPages;
    private boolean forced;
    private final List<String> policyActions = new ArrayList<>();
    private PageSet skippedFree;
    private io.livemig.api.PostcopyStats postcopyStats;
    /** Clean-up that waits until the destination has resumed: see {@link #afterSwitchover}. */
    private final List<Runnable> afterSwitchover = new ArrayList<>();

    /**
     * @param vm      the source VM; the session owns it while the migration runs
     * @param channel the channel to the destination
     * @param options the options
     */
    public SourceSession(MigratableVm vm, Channel channel, MigrationOptions options) {
        this.vm = vm;
        this.channel = channel;
        this.options = options;
        this.time = options.timeSource();
        this.layout = vm.descriptor().memoryLayout();
        this.memory = vm.memory();
        this.pageSize = layout.pageSizeBytes();
        this.returnPath = new ReturnPath(channel, time, layout);
        this.bandwidth = new TokenBucket(time, options.bandwidthLimitBytesPerSecond());
    }

    /** Asks the migration to stop at the next batch boundary, if it has not committed yet. Any thread. */
    public void cancel() {
        cancelRequested = true;
    }

    /** @return the options */
    public MigrationOptions options() {
        return options;
    }

    /** @return the VM */
    public MigratableVm vm() {
        return vm;
    }

    /** @return the VM's layout */
    public MemoryLayout layout() {
        return layout;
    }

    /** @return the migration's clock */
    public io.livemig.api.TimeSource time() {
        return time;
    }

    /** @return bytes put on the forward stream so far, frame headers included */
    public long bytesOnWire() {
        return bytesOnWire;
    }

    /** @return whether the VM is paused by this migration */
    public boolean paused() {
        return pausedByUs;
    }

    /** Sends HELLO and SETUP and waits for HELLO_ACK and READY. */
    public void handshake() throws MigrationException {
        startNanos = time.nanoTime();
        returnPath.start();
        long supported = Codecs.wireBits(options.codecs());
        FrameWriter hello = new FrameWriter(4096);
        long sent = time.nanoTime();
        send(new Messages.Hello(Wire.VERSION, Wire.VERSION, Math.min(Wire.DEFAULT_MAX_FRAME_BYTES,
                channel.maxMessageBytes()), supported).write(hello));
        ReturnPath.Incoming ackFrame = await(FrameType.HELLO_ACK);
        LOG.debug("handshake round trip {} µs", (ackFrame.arrivalNanos() - sent) / 1000);
        Messages.HelloAck ack = (Messages.HelloAck) ackFrame.body();
        if (ack.version() != Wire.VERSION) {
            throw protocol(ProtocolException.Kind.INCOMPATIBLE, "destination chose protocol version " + ack.version()
                    + ", this source speaks only " + Wire.VERSION);
        }
        if ((ack.encodings() & ~supported) != 0 || (ack.encodings() & supported) != supported) {
            throw protocol(ProtocolException.Kind.INCOMPATIBLE, String.format(
                    "destination agreed encodings %x, source needs %x", ack.encodings(), supported));
        }
        agreedEncodings = ack.encodings();
        int maxFrame = Math.min(ack.maxFrameBytes(), Math.min(Wire.DEFAULT_MAX_FRAME_BYTES, channel.maxMessageBytes()));
        writer = new FrameWriter(maxFrame);
        int perPage = pageSize + Wire.PAGE_ENTRY_BYTES;
        int fit = (maxFrame - Wire.MIN_FRAME_BYTES - Wire.PAGES_HEADER_BYTES) / perPage;
        if (fit < 1) {
            throw protocol(ProtocolException.Kind.INCOMPATIBLE, "a " + pageSize + "-byte page does not fit in the "
                    + maxFrame + "-byte frame limit");
        }
        batchPages = Math.min(options.batchPages(), fit);
        io.livemig.compress.PageEncoder.Config codecs = Codecs.encoderConfig(options);
        if (options.encoderThreads() > 1) {
            pool = new EncoderPool(options.encoderThreads(), memory, pageSize, batchPages, maxFrame, codecs,
                    layout.pageSpan());
            // Post-copy pages go through the migration thread's framer: no deltas or references
            // there, so it needs no cache or index of its own.
            codecs = Codecs.withoutHistory(codecs);
        }
        framer = new PageFramer(memory, pageSize, batchPages, maxFrame, codecs.encodings().isEmpty() ? null
                : new io.livemig.compress.PageEncoder(codecs, pageSize, layout.pageSpan()), page -> page, 1);
        boolean mayPostcopy = options.strategy() == io.livemig.api.Strategy.POSTCOPY
                || options.strategy() == io.livemig.api.Strategy.HYBRID
                || options.escalation().stream().anyMatch(s -> s instanceof io.livemig.api.EscalationStep.SwitchToPostcopy);
        send(new Messages.Setup(options.strategy(), options.verify(), mayPostcopy, vm.descriptor(), batchPages)
                .write(writer));
        await(FrameType.READY);
        phase = MigrationPhase.LIVE_COPY;
        emit(new MigrationEvent.Started(options.strategy(), layout.memoryBytes(), channel.peer()));
        LOG.info("migration started: {} of {} bytes to {}", options.strategy(), layout.memoryBytes(), channel.peer());
    }

    /**
     * Pauses the VM and tells the destination the stop-copy phase began.
     *
     * @param expected the downtime predicted for the rest
     */
    public void pause(Duration expected, long remainingBytes) throws MigrationException {
        checkCancelled();
        vm.vcpus().pause();
        pauseNanos = time.nanoTime();
        pausedByUs = true;
        vmState = SourceVmState.PAUSED;
        phase = MigrationPhase.STOP_COPY;
        expectedDowntime = expected;
        emit(new MigrationEvent.SwitchoverStarted(remainingBytes, expected));
        send(Messages.writeEmpty(writer, FrameType.SWITCHOVER));
    }

    /** What {@link #sendPages} did. */
    public record RoundResult(long pagesSent, long bytesOnWire, long nanos) {
    }

    /**
     * Sends every page of {@code pages} in page-number order as part of round {@code round}:
     * zero pages as a bare entry (or not at all with {@code skipZeroPages}, when the destination
     * is known to hold zeros there), others raw. Checks for cancellation and a destination abort
     * between frames.
     *
     * @return pages and bytes sent and the time it took
     */
    public RoundResult sendPages(PageSet pages, int round, boolean skipZeroPages) throws MigrationException {
        long start = time.nanoTime();
        long bytesBefore = bytesOnWire;
        long sentPages = 0;
        if (pool != null) {
            flushPages();
            sentPages = pool.round(pages, round, skipZeroPages, frame -> {
                checkCancelled();
                sendPaced(frame);
            }, phase, vmState);
            if (skippedFree != null) {
                skippedFree.removeAll(pages);
            }
        } else {
            for (long page = pages.nextSetBit(0); page >= 0; page = pages.nextSetBit(page + 1)) {
                if (appendPage(page, round, skipZeroPages)) {
                    sentPages++;
                }
            }
            flushPages();
        }
        return new RoundResult(sentPages, bytesOnWire - bytesBefore, time.nanoTime() - start);
    }

    /**
     * In real time, during the live copy: sends a PING after the pages sent so far; its PONG
     * tells how long the destination takes to take them in and answer (see
     * {@link #minRoundTripNanos()}). Nothing in virtual time, where the extra frame's timing
     * would make runs differ.
     */
    void ping() throws MigrationException {
        if (!time.isWallClock() || phase != MigrationPhase.LIVE_COPY) {
            return;
        }
        flushPages();
        long token = time.nanoTime();
        returnPath.pingSent(token);
        send(Messages.writeToken(writer, FrameType.PING, token));
    }

    /** @return the shortest PING round trip so far in nanoseconds, or 0 if none was measured */
    long minRoundTripNanos() {
        return Math.max(0, returnPath.minRoundTripNanos());
    }

    /**
     * Adds one page to the PAGES frame being built, sending the frame when it is full. Reads the
     * page straight into the frame; a zero page becomes a bare entry, or nothing with
     * {@code skipZeroPages}.
     *
     * @return whether an entry was added (false only for a skipped zero page)
     */
    public boolean appendPage(long page, int round, boolean skipZeroPages) throws MigrationException {
        if (!framer.hasOpenFrame()) {
            checkCancelled();
        }
        // Deltas and references only while the destination's copy is the one last sent: not in
        // post-copy, where the page is missing there.
        boolean added = framing(() -> framer.append(page, round, skipZeroPages, phase != MigrationPhase.POST_COPY,
                inlineOut));
        if (added && skippedFree != null) {
            skippedFree.remove(page);
        }
        return added;
    }

    /** Sends the PAGES frame being built, if it holds any entry. */
    public void flushPages() throws MigrationException {
        framing(() -> {
            framer.flush(inlineOut);
            return true;
        });
    }

    private final PageFramer.FrameOut inlineOut = (frame, writer, from) -> {
        try {
            sendPaced(frame);
        } finally {
            from.release(writer);
        }
    };

    private interface FramerCall {
        boolean call() throws Exception;
    }

    /** Runs a framer call on this thread, letting its migration and runtime exceptions through. */
    private boolean framing(FramerCall call) throws MigrationException {
        try {
            return call.call();
        } catch (MigrationException | RuntimeException e) {
            throw e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MigrationCancelledException("interrupted", phase, vmState);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Records pages the guest reported free and that were therefore not sent: the destination
     * holds zeros there, and verification treats them as zero pages on the source too (a hint
     * means their content does not matter). Sending such a page later removes it again.
     */
    public void skipFreePages(PageSet free) {
        if (skippedFree == null) {
            skippedFree = free.copy();
        } else {
            skippedFree.addAll(free);
        }
    }

    /**
     * @return the pages to send at first: every RAM page, minus the free pages the guest reports
     *         when hints are on (which are then recorded as skipped)
     */
    public PageSet initialPages() {
        PageSet all = PageSet.allOf(layout);
        if (options.useFreePageHints()) {
            vm.freePageHints().ifPresent(hints -> {
                all.removeAll(hints.freePages());
                PageSet freeRam = PageSet.allOf(layout);
                freeRam.removeAll(all);
                skipFreePages(freeRam);
                LOG.debug("free-page hints: skipping {} pages", freeRam.cardinality());
            });
        }
        return all;
    }

    /** Records an action of the escalation ladder and tells the listener. */
    public void policyApplied(int round, io.livemig.api.EscalationStep step, String action) {
        policyActions.add(action);
        emit(new MigrationEvent.EscalationApplied(round, step, action));
        LOG.info("round {}: not converging, {}", round, action);
    }

    /** Marks the switchover as forced past the downtime limit. */
    public void markForced() {
        forced = true;
    }

    /** @return the rounds recorded so far */
    public List<RoundStats> rounds() {
        return rounds;
    }

    /** Records a finished round and tells the listener. */
    public void roundDone(RoundStats stats) {
        rounds.add(stats);
        emit(new MigrationEvent.RoundCompleted(stats));
        LOG.debug("round {}: {} pages, {} bytes, {} dirty, {} ms", stats.round(), stats.pagesSent(),
                stats.bytesOnWire(), stats.dirtyPages(), stats.duration().toMillis());
    }

    /**
     * Sends the vCPU and device state and COMMIT, then waits until the destination says it
     * resumed. The VM must be paused. After COMMIT went out, cancellation no longer applies.
     */
    public void commit() throws MigrationException {
        commit(false);
    }

    /**
     * Post-copy: announces the pages still to come (MISSING_PAGES), then commits as
     * {@link #commit()} does, except that the destination resumes before those pages arrive.
     * From then on the VM's state is split between the hosts until every page has arrived.
     */
    public void commitPostcopy(PageSet missing) throws MigrationException {
        checkCancelled();
        int words = missing.wordCount();
        int perFrame = Math.min(Wire.MAX_BITMAP_WORDS, (writer.capacity() - 64) / 8);
        for (int first = 0; first < words; first += perFrame) {
            int count = Math.min(perFrame, words - first);
            Messages.writeBitmap(writer.begin(FrameType.MISSING_PAGES), missing, first, count);
            send(writer.finish());
        }
        commit(true);
        vmState = SourceVmState.SPLIT;
        phase = MigrationPhase.POST_COPY;
        emit(new MigrationEvent.PostcopyStarted(missing.cardinality()));
    }

    /** Marks the end of post-copy: every page is at the destination; the VM runs there alone. */
    public void postcopyFinished(io.livemig.api.PostcopyStats stats) {
        postcopyStats = stats;
        vmState = SourceVmState.HANDED_OVER;
        phase = MigrationPhase.VERIFY;
    }

    private void commit(boolean postcopy) throws MigrationException {
        checkCancelled();
        long t0 = time.nanoTime();
        List<VcpuState> states = vm.vcpus().saveState();
        if (LOG.isDebugEnabled()) {
            LOG.debug("switchover: {} µs after the pause, vCPU state saved in {} µs", (t0 - pauseNanos) / 1000,
                    (time.nanoTime() - t0) / 1000);
        }
        for (VcpuState state : states) {
            send(Messages.writeVcpuState(writer, state));
        }
        List<MigratableDevice> devices = vm.devices();
        for (MigratableDevice device : devices) {
            send(new Messages.DeviceState(device.id(), device.saveState()).write(writer));
        }
        checkCancelled();
        commitSent = true;
        send(new Messages.Commit(states.size(), devices.size(), postcopy).write(writer));
        ReturnPath.Incoming resumed = await(FrameType.RESUMED);
        resumedNanos = resumed.arrivalNanos();
        vmState = SourceVmState.HANDED_OVER;
        phase = MigrationPhase.VERIFY;
        runAfterSwitchover();
    }

    /**
     * Runs {@code task} once the destination has resumed (or when the migration ends without a
     * switchover): for clean-up that should not lengthen the downtime.
     */
    void afterSwitchover(Runnable task) {
        afterSwitchover.add(task);
    }

    private void runAfterSwitchover() {
        for (Runnable task : afterSwitchover) {
            try {
                task.run();
            } catch (RuntimeException e) {
                LOG.warn("clean-up after the switchover failed", e);
            }
        }
        afterSwitchover.clear();
    }

    /**
     * Digests every page (the VM is still paused: this is its memory at pause) and lets the
     * destination compare; records the result.
     */
    public void verify() throws MigrationException {
        if (!options.verify()) {
            return;
        }
        verifyStartNanos = time.nanoTime();
        PageDigests.Digester digester = new PageDigests.Digester(pageSize);
        int zeroDigest = PageDigests.zeroDigest(pageSize);
        int perFrame = Math.min(65536, (writer.capacity() - Wire.MIN_FRAME_BYTES - 12) / 4);
        int chunkPages = 256;
        ByteBuffer scratch = PageDigests.scratch(pageSize, chunkPages);
        long total = 0;
        for (MemoryRegion region : layout.regions()) {
            long page = region.firstPage();
            while (page < region.endPage()) {
                int count = (int) Math.min(perFrame, region.endPage() - page);
                ByteBuffer b = writer.begin(FrameType.DIGESTS).putLong(page).putInt(count);
                for (int done = 0; done < count; ) {
                    int n = Math.min(chunkPages, count - done);
                    scratch.clear();
                    memory.readPages(page + done, n, scratch);
                    for (int i = 0; i < n; i++) {
                        long p = page + done + i;
                        b.putInt(skippedFree != null && skippedFree.contains(p) ? zeroDigest
                                : digester.digest(scratch, i * pageSize));
                    }
                    done += n;
                }
                send(writer.finish());
                page += count;
                total += count;
            }
        }
        writer.begin(FrameType.DIGESTS_END).putLong(total);
        send(writer.finish());
        Messages.VerifyResult result = (Messages.VerifyResult) await(FrameType.VERIFY_RESULT).body();
        if (result.checkedPages() != total) {
            throw protocol(ProtocolException.Kind.INCONSISTENT_LENGTH, "destination checked " + result.checkedPages()
                    + " pages, " + total + " were sent");
        }
        mismatchedPages = result.mismatchedPages();
        verification = mismatchedPages == 0 ? Verification.VERIFIED : Verification.MISMATCH;
        if (mismatchedPages != 0) {
            LOG.warn("verification failed: {} of {} pages differ, first at page {}", mismatchedPages, total,
                    result.firstMismatch());
        }
    }

    /**
     * Called when the migration fails: puts the VM in the safest state, tells the destination
     * (best effort), and returns the exception to throw, with the VM's true state.
     */
    public MigrationException fail(Throwable error) {
        SourceVmState state = vmState;
        if (vmState == SourceVmState.PAUSED && !commitSent) {
            try {
                vm.vcpus().resume();
                pausedByUs = false;
                state = SourceVmState.RUNNING;
            } catch (RuntimeException e) {
                LOG.warn("could not resume the source VM after a failed migration", e);
            }
        } else if (vmState == SourceVmState.SPLIT) {
            // The VM ran at the destination: resuming here would roll it back. Stay paused.
            state = SourceVmState.SPLIT;
        } else if (vmState == SourceVmState.PAUSED) {
            // COMMIT went out but RESUMED never came back: the destination may be running the VM.
            // Resuming here could run it twice; leave it paused and say so.
            state = SourceVmState.UNKNOWN;
        }
        vm.dirtyTracker().ifPresent(t -> {
            try {
                t.stop();
            } catch (RuntimeException e) {
                LOG.warn("could not stop dirty tracking", e);
            }
        });
        MigrationException result = toMigrationException(error, state);
        if (state != SourceVmState.HANDED_OVER && returnPath.failure() == null && writer != null) {
            int code = result instanceof MigrationCancelledException ? Messages.Abort.CANCELLED
                    : result instanceof ProtocolException ? Messages.Abort.PROTOCOL_ERROR : Messages.Abort.SOURCE_ERROR;
            try {
                channel.send(new Messages.Abort(code, result.reason()).write(writer));
            } catch (IOException | RuntimeException e) {
                LOG.debug("could not send ABORT", e);
            }
        }
        phase = result.phase();
        return result;
    }

    private MigrationException toMigrationException(Throwable error, SourceVmState state) {
        if (error instanceof MigrationException me) {
            return me.sourceState() == state ? me : me.withSourceState(state);
        }
        if (error instanceof InterruptedException) {
            Thread.currentThread().interrupt();
            return new MigrationCancelledException("interrupted", phase, state);
        }
        return new MigrationException("migration failed: " + error, phase, state, error);
    }

    /** @return the report for the given outcome */
    public MigrationReport report(MigrationStatus status, MigrationException failure) {
        long end = time.nanoTime();
        Duration downtime = Duration.ZERO;
        if (pauseNanos >= 0 && resumedNanos >= 0) {
            // Pause to the arrival of RESUMED, on this side's clock: an upper bound by one transit
            // of the return path. (Subtracting half the handshake's round trip was tried; that
            // round trip includes the destination's start-up and made short downtimes vanish.)
            downtime = Duration.ofNanos(Math.max(0, resumedNanos - pauseNanos));
        }
        Map<String, Long> byEncoding = new java.util.TreeMap<>();
        Map<String, Long> bytes = new java.util.TreeMap<>();
        long unchangedPages = 0;
        long bytesSaved = 0;
        List<PageFramer> framers = new ArrayList<>();
        if (framer != null) {
            framers.add(framer);
        }
        if (pool != null) {
            framers.addAll(List.of(pool.framers()));
        }
        for (PageFramer f : framers) {
            for (PageEncoding e : PageEncoding.values()) {
                if (f.pagesByEncoding[e.wireId()] > 0) {
                    byEncoding.merge(e.reportName(), f.pagesByEncoding[e.wireId()], Long::sum);
                    bytes.merge(e.reportName(), f.bytesByEncoding[e.wireId()], Long::sum);
                }
            }
            unchangedPages += f.unchangedPages;
            bytesSaved += f.bytesSaved;
        }
        long totalEnd = verifyStartNanos >= 0 ? verifyStartNanos : end;
        return MigrationReport.builder(options.strategy())
                .status(status)
                .memoryBytes(layout.memoryBytes())
                .totals(new MigrationReport.Totals(Duration.ofNanos(Math.max(0, totalEnd - startNanos)), bytesOnWire,
                        rounds.size()))
                .rounds(rounds)
                .switchover(new MigrationReport.Switchover(downtime, expectedDowntime, forced, List.of()))
                .encodings(new MigrationReport.Encodings(byEncoding, bytes, unchangedPages, bytesSaved))
                .verification(new MigrationReport.Check(verification, mismatchedPages,
                        verifyStartNanos >= 0 ? Duration.ofNanos(end - verifyStartNanos) : Duration.ZERO))
                .escalations(policyActions)
                .postcopy(postcopyStats)
                .failure(failure == null ? null : failure.getMessage())
                .build();
    }

    /** Emits the final event and logs the one-line summary. */
    public void finished(MigrationReport report, MigrationException failure) {
        runAfterSwitchover();
        if (pool != null) {
            pool.close();
        }
        if (failure == null) {
            LOG.info("migration completed: {} bytes in {} ms, downtime {} ms, {} rounds, {} bytes on the wire, {}",
                    report.memoryBytes(), report.totals().totalTime().toMillis(),
                    report.switchover().downtime().toMillis(), report.totals().roundCount(),
                    report.totals().bytesOnWire(), report.verification().outcome());
            emit(new MigrationEvent.Completed(report));
        } else {
            LOG.info("migration {}: {}", report.status().name().toLowerCase(java.util.Locale.ROOT), failure.getMessage());
            emit(new MigrationEvent.Failed(failure, report));
        }
    }

    private void emit(MigrationEvent event) {
        try {
            options.listener().onEvent(event);
        } catch (RuntimeException e) {
            LOG.warn("migration listener threw on {}", event.getClass().getSimpleName(), e);
        }
    }

    /** @throws MigrationException if cancelled, or the destination aborted or failed */
    public void checkCancelled() throws MigrationException {
        if (cancelRequested) {
            throw new MigrationCancelledException("cancelled by the caller", phase, vmState);
        }
        Messages.Abort abort = returnPath.pendingAbort();
        if (abort != null) {
            throw new MigrationAbortedException("the destination aborted: " + abort.reason(), phase, vmState);
        }
        Exception failure = returnPath.failure();
        if (failure != null) {
            throw fromReturnPath(failure);
        }
    }

    private MigrationException fromReturnPath(Exception failure) {
        if (failure instanceof WireException we) {
            return new ProtocolException(we.kind(), "on the return path: " + we.getMessage(), phase, vmState);
        }
        return new ChannelException("return path from " + channel.peer() + " failed: " + failure.getMessage(), phase,
                vmState, failure);
    }

    private void sendPaced(ByteBuffer frame) throws MigrationException {
        try {
            bandwidth.acquire(frame.remaining());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MigrationCancelledException("interrupted", phase, vmState);
        }
        send(frame);
    }

    private void send(ByteBuffer frame) throws MigrationException {
        int length = frame.remaining();
        try {
            channel.send(frame);
        } catch (IOException e) {
            Exception rp = returnPath.failure();
            Messages.Abort abort = returnPath.pendingAbort();
            if (abort != null) {
                throw new MigrationAbortedException("the destination aborted: " + abort.reason(), phase, vmState);
            }
            throw new ChannelException("sending to " + channel.peer() + " failed: " + e.getMessage()
                    + (rp != null ? " (return path: " + rp.getMessage() + ")" : ""), phase, vmState, e);
        }
        bytesOnWire += length;
    }

    private ReturnPath.Incoming await(FrameType expected) throws MigrationException {
        ReturnPath.Incoming in = awaitAny();
        if (in.type() != expected) {
            throw protocol(ProtocolException.Kind.UNEXPECTED, "expected " + expected + " on the return path, got "
                    + in.type());
        }
        return in;
    }

    private ReturnPath.Incoming awaitAny() throws MigrationException {
        Object next;
        try {
            next = returnPath.next(options.ioTimeout().toNanos());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MigrationCancelledException("interrupted while waiting for the destination", phase, vmState);
        }
        if (next == null) {
            throw new ChannelException("no answer from " + channel.peer() + " within "
                    + options.ioTimeout().toMillis() + " ms", phase, vmState, null);
        }
        if (next instanceof ReturnPath.Failure f) {
            throw fromReturnPath(f.error());
        }
        ReturnPath.Incoming in = (ReturnPath.Incoming) next;
        if (in.body() instanceof Messages.Abort abort) {
            throw new MigrationAbortedException("the destination aborted: " + abort.reason(), phase, vmState);
        }
        return in;
    }

    private ProtocolException protocol(ProtocolException.Kind kind, String message) {
        return new ProtocolException(kind, message, phase, vmState);
    }

    /** @return whether a demand request is waiting */
    boolean hasPageRequest() {
        return returnPath.hasPageRequest();
    }

    /** @return the next batch of demand requests from the destination, or null */
    long[] pollPageRequest() {
        return returnPath.pollPageRequest();
    }

    /** @return forward bytes the destination acknowledged during post-copy on the current channel */
    long postcopyAckedBytes() {
        return returnPath.ackedBytes();
    }

    /**
     * Waits for a post-copy acknowledgement or page request; fails if the destination went away
     * or nothing came within the I/O timeout.
     */
    void awaitPostcopyProgress(long ackedBefore) throws MigrationException {
        long deadline = System.nanoTime() + options.ioTimeout().toNanos();
        try {
            while (returnPath.ackedBytes() == ackedBefore) {
                checkCancelled();
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new ChannelException("no post-copy acknowledgement from " + channel.peer() + " within "
                            + options.ioTimeout().toMillis() + " ms", phase, vmState, null);
                }
                returnPath.awaitPostcopySignal(Math.min(left, 10_000_000L));
                if (returnPath.hasPageRequest()) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MigrationCancelledException("interrupted in post-copy", phase, vmState);
        }
    }

    /** Waits for the destination's POSTCOPY_DONE. */
    Messages.PostcopyDone awaitPostcopyDone() throws MigrationException {
        return (Messages.PostcopyDone) await(FrameType.POSTCOPY_DONE).body();
    }

    /** Tells the destination every page has been sent. */
    void sendPostcopyEnd() throws MigrationException {
        flushPages();
        writer.begin(FrameType.POSTCOPY_END);
        send(writer.finish());
    }

    /**
     * Replaces a broken channel with {@code fresh} during post-copy and learns from the
     * destination which pages it still lacks (RECOVER_MISSING ... RECOVER), then acknowledges.
     *
     * @return the pages the destination still lacks
     */
    PageSet recover(Channel fresh) throws MigrationException {
        Channel old = channel;
        old.close();
        channel = fresh;
        returnPath = new ReturnPath(fresh, time, layout);
        returnPath.start();
        framer.discard();
        PageSet missing = new PageSet(layout.pageSpan());
        while (true) {
            ReturnPath.Incoming in = awaitAny();
            if (in.type() == FrameType.RECOVER_MISSING) {
                missing.addAll((PageSet) in.body());
            } else if (in.type() == FrameType.RECOVER) {
                long announced = (Long) in.body();
                if (announced != missing.cardinality()) {
                    throw protocol(ProtocolException.Kind.INCONSISTENT_LENGTH, "RECOVER says " + announced
                            + " pages are missing, its bitmap holds " + missing.cardinality());
                }
                break;
            } else {
                throw protocol(ProtocolException.Kind.UNEXPECTED, in.type() + " while recovering");
            }
        }
        writer.begin(FrameType.RECOVER_ACK);
        send(writer.finish());
        return missing;
    }

    /** Tells the listener a broken post-copy link was replaced. */
    void recovered(int recoveries, String reason) {
        emit(new MigrationEvent.LinkRecovered(recoveries, reason));
    }

    /** Closes the session's return-path reader (the channel belongs to the caller). */
    public void awaitReturnPathEnd() {
        try {
            returnPath.join(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
