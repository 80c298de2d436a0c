package io.livemig.engine.internal;

import io.livemig.api.ChannelException;
import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.ProtocolException;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.Verification;
import io.livemig.channel.Channel;
import io.livemig.channel.MessageTooLargeException;
import io.livemig.compress.PageEncoding;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.Messages;
import io.livemig.engine.internal.wire.PageBatchReader;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.CRC32C;

/**
 * The destination side of one migration: a state machine over the frames of protocol v1
 * (docs/protocol.md, "Receiver states"). Each frame is checked completely (CRC, type allowed in
 * the current state, every field) before it is acted on. The target VM is created only after a
 * valid SETUP, and resumed only after COMMIT with every vCPU and device state present and
 * loaded; any failure before that closes (discards) the target, so no half-migrated VM ever runs.
 *
 * <p>Single-threaded: {@link #run()} runs on the caller's thread.
 */
public final class DestinationSession {

    /** Longest quiet time on the return path before the switchover: see {@link #keepAlive()}. */
    private static final Duration KEEPALIVE_INTERVAL = Duration.ofMillis(200);
    private static final Logger LOG = LoggerFactory.getLogger(DestinationSession.class);

    /** Creates the target VM once the source's SETUP is known. */
    @FunctionalInterface
    public interface TargetCreator {
        MigrationTarget create(VmDescriptor descriptor) throws IOException;
    }

    /** The outcome: the running target and the destination's report. */
    public record Outcome(MigrationTarget target, MigrationReport report) {
    }

    private enum State { AWAIT_HELLO, AWAIT_SETUP, RECEIVING, STOPPED, POSTCOPY, VERIFYING, DONE }

    /** The current channel; replaced on post-copy recovery. Sends to it hold {@link #sendLock}. */
    private volatile Channel channel;
    private final io.livemig.channel.Reconnector reconnector;
    private final Object sendLock = new Object();
    /** Real time of the last frame sent on the return path, for {@link #keepAlive()}. */
    private long lastReturnSendNanos = System.nanoTime();
    private final long keepAliveNanos;
    private PostcopyReceiver postcopy;
    private PageSet announcedMissing;
    private final TargetCreator creator;
    private final MigrationOptions options;
    private final io.livemig.api.TimeSource time;
    private final ByteBuffer receiveBuffer;
    private final CRC32C crc = new CRC32C();
    private final FrameWriter writer = new FrameWriter(4096);
    private final long[] pagesByEncoding = new long[256];
    private final long[] bytesByEncoding = new long[256];
    private io.livemig.compress.PageDecoder decoder;
    private ByteBuffer decoded;

    private State state = State.AWAIT_HELLO;
    private MigrationPhase phase = MigrationPhase.HANDSHAKE;
    private int maxFrameBytes;
    private long agreedEncodings;
    private Messages.Setup setup;
    private MigrationTarget target;
    private MemorySink sink;
    private PageBatchReader batchReader;
    private PageDigests digests;
    private PageDigests.Digester digester;
    private int zeroDigest;
    private ByteBuffer pageScratch;
    private boolean resumed;
    private int maxRound = -1;
    private long startNanos;
    private long switchoverNanos = -1;
    private long resumeNanos = -1;
    private long verifyStartNanos = -1;
    private long bytesReceived;
    private final Map<Integer, VcpuState> vcpuStates = new HashMap<>();
    private final Map<String, byte[]> deviceStates = new HashMap<>();
    private Verification verification = Verification.NOT_CHECKED;
    private long mismatchedPages;
    private long firstMismatch = -1;
    private long digestsChecked;

    /**
     * @param channel     the channel from the source
     * @param reconnector gives a new channel if the link breaks during post-copy
     * @param creator creates the target VM from the announced descriptor
     * @param options options (io timeout, verification, clock, listener)
     */
    public DestinationSession(Channel channel, io.livemig.channel.Reconnector reconnector, TargetCreator creator,
                              MigrationOptions options) {
        this.channel = channel;
        this.reconnector = reconnector;
        this.creator = creator;
        this.options = options;
        this.time = options.timeSource();
        int limit = Math.min(Wire.DEFAULT_MAX_FRAME_BYTES, channel.maxMessageBytes());
        this.receiveBuffer = ByteBuffer.allocateDirect(limit).order(ByteOrder.BIG_ENDIAN);
        this.maxFrameBytes = limit;
        this.keepAliveNanos = Math.min(KEEPALIVE_INTERVAL.toNanos(), options.ioTimeout().toNanos() / 4);
    }

    /**
     * Receives the migration, resumes the target and verifies.
     *
     * @return the running target (owned by the caller from now on) and the report
     * @throws MigrationException if the migration fails before the target resumed; the target
     *                            has then been discarded
     */
    public Outcome run() throws MigrationException {
        startNanos = time.nanoTime();
        try {
            while (state != State.DONE) {
                try {
                    handle(receive());
                    keepAlive();
                } catch (ChannelException broken) {
                    // In post-copy a break is recoverable wherever it shows first: in a receive,
                    // or in a send on this thread (an acknowledgement, a RESUMED).
                    if (state != State.POSTCOPY) {
                        throw broken;
                    }
                    recover(broken);
                }
            }
        } catch (MigrationException | RuntimeException e) {
            if (!resumed) {
                throw discard(e);
            }
            if (state == State.POSTCOPY) {
                throw splitFailure(e);
            }
            LOG.warn("after the VM resumed here: {}; it keeps running, verification is incomplete", e.getMessage());
            verification = Verification.NOT_CHECKED;
        } finally {
            if (postcopy != null) {
                postcopy.close();
            }
        }
        MigrationReport report = report();
        LOG.info("migration received: {} bytes, downtime {} ms, {}", report.memoryBytes(),
                report.switchover().downtime().toMillis(), report.verification().outcome());
        return new Outcome(target, report);
    }

    private MigrationException discard(Exception e) {
        MigrationException error = e instanceof MigrationException me ? me
                : new MigrationException("destination failed: " + e, phase, SourceVmState.UNKNOWN, e);
        if (target != null) {
            try {
                target.close();
            } catch (RuntimeException closeError) {
                error.addSuppressed(closeError);
            }
            LOG.info("destination discarded the partly received VM: {}", error.reason());
        }
        boolean peerAborted = error instanceof MigrationAbortedException || error instanceof MigrationCancelledException;
        if (!peerAborted && !(error instanceof ChannelException)) {
            int code = error instanceof ProtocolException ? Messages.Abort.PROTOCOL_ERROR : Messages.Abort.TARGET_ERROR;
            try {
                channel.send(new Messages.Abort(code, error.reason()).write(writer));
            } catch (IOException | RuntimeException sendError) {
                LOG.debug("could not send ABORT", sendError);
            }
        }
        return error;
    }

    private Frame receive() throws MigrationException {
        receiveBuffer.clear();
        int length;
        try {
            length = channel.receive(receiveBuffer);
        } catch (MessageTooLargeException e) {
            throw protocol(Kind.FRAME_TOO_LARGE, e.getMessage());
        } catch (EOFException e) {
            throw protocol(Kind.TRUNCATED, "the stream ended inside a frame: " + e.getMessage());
        } catch (IOException e) {
            throw new ChannelException("receiving from " + channel.peer() + " failed: " + e.getMessage(), phase,
                    SourceVmState.UNKNOWN, e);
        }
        if (length < 0) {
            throw new ChannelException("the source closed the channel in state " + state, phase, SourceVmState.UNKNOWN,
                    null);
        }
        if (length > maxFrameBytes) {
            throw protocol(Kind.FRAME_TOO_LARGE, "frame of " + length + " bytes exceeds the agreed " + maxFrameBytes);
        }
        bytesReceived += length;
        receiveBuffer.flip();
        try {
            Frame frame = Frame.open(receiveBuffer, crc);
            if (!frame.type().forward()) {
                throw new WireException(Kind.UNEXPECTED, frame.type() + " frame on the forward stream");
            }
            return frame;
        } catch (WireException e) {
            throw protocol(e.kind(), e.getMessage());
        }
    }

    private void handle(Frame frame) throws MigrationException {
        try {
            if (frame.type() == FrameType.ABORT) {
                Messages.Abort abort = Messages.Abort.read(frame);
                if (abort.code() == Messages.Abort.CANCELLED) {
                    throw new MigrationCancelledException("the source cancelled: " + abort.reason(), phase,
                            SourceVmState.UNKNOWN);
                }
                throw new MigrationAbortedException("the source aborted: " + abort.reason(), phase, SourceVmState.UNKNOWN);
            }
            switch (state) {
                case AWAIT_HELLO -> onHello(expect(frame, FrameType.HELLO));
                case AWAIT_SETUP -> onSetup(expect(frame, FrameType.SETUP));
                case RECEIVING -> {
                    switch (frame.type()) {
                        case PAGES -> onPages(frame);
                        case PING -> send(Messages.writeToken(writer, FrameType.PONG, Messages.readToken(frame)));
                        case SWITCHOVER -> {
                            Messages.readEmpty(frame);
                            switchoverNanos = time.nanoTime();
                            phase = MigrationPhase.STOP_COPY;
                            state = State.STOPPED;
                        }
                        default -> throw unexpected(frame);
                    }
                }
                case STOPPED -> {
                    switch (frame.type()) {
                        case PAGES -> onPages(frame);
                        case VCPU_STATE -> onVcpuState(frame);
                        case DEVICE_STATE -> onDeviceState(frame);
                        case MISSING_PAGES -> onMissingPages(frame);
                        case COMMIT -> onCommit(Messages.Commit.read(frame));
                        default -> throw unexpected(frame);
                    }
                }
                case POSTCOPY -> {
                    switch (frame.type()) {
                        case PAGES -> onPages(frame);
                        case POSTCOPY_END -> onPostcopyEnd(frame);
                        default -> throw unexpected(frame);
                    }
                }
                case VERIFYING -> {
                    switch (frame.type()) {
                        case DIGESTS -> onDigests(frame);
                        case DIGESTS_END -> onDigestsEnd(frame);
                        default -> throw unexpected(frame);
                    }
                }
                case DONE -> throw unexpected(frame);
            }
        } catch (WireException e) {
            throw protocol(e.kind(), e.getMessage());
        }
    }

    private Frame expect(Frame frame, FrameType type) throws WireException {
        if (frame.type() != type) {
            throw unexpected(frame);
        }
        return frame;
    }

    private WireException unexpected(Frame frame) {
        return new WireException(Kind.UNEXPECTED, frame.type() + " frame is not allowed in receiver state " + state);
    }

    private void onHello(Frame frame) throws WireException, MigrationException {
        Messages.Hello hello = Messages.Hello.read(frame);
        if (hello.minVersion() > Wire.VERSION || hello.maxVersion() < Wire.VERSION) {
            throw new WireException(Kind.INCOMPATIBLE, "source speaks protocol versions [" + hello.minVersion() + ", "
                    + hello.maxVersion() + "], this destination speaks " + Wire.VERSION);
        }
        maxFrameBytes = Math.min(maxFrameBytes, hello.maxFrameBytes());
        agreedEncodings = hello.encodings() & Codecs.DECODABLE;
        send(new Messages.HelloAck(Wire.VERSION, maxFrameBytes, agreedEncodings).write(writer));
        state = State.AWAIT_SETUP;
    }

    private void onSetup(Frame frame) throws WireException, MigrationException {
        setup = Messages.Setup.read(frame);
        VmDescriptor descriptor = setup.descriptor();
        MemoryLayout layout = descriptor.memoryLayout();
        long createStart = time.nanoTime();
        try {
            target = creator.create(descriptor);
            LOG.debug("target created in {} ms", (time.nanoTime() - createStart) / 1_000_000);
        } catch (IOException | RuntimeException e) {
            throw new MigrationException("cannot create the target VM: " + e.getMessage(), phase, SourceVmState.UNKNOWN, e);
        }
        if (setup.mayPostcopy() && target.demandPaging().isEmpty()) {
            throw new ProtocolException(Kind.INCOMPATIBLE, "the source may switch to post-copy, but this target cannot "
                    + "run before all of its memory arrived (no demand paging)", phase, SourceVmState.UNKNOWN);
        }
        if (!target.descriptor().memoryLayout().equals(layout)) {
            throw new MigrationException("the target's layout " + target.descriptor().memoryLayout()
                    + " differs from the announced " + layout, phase, SourceVmState.UNKNOWN, null);
        }
        sink = target.memory();
        batchReader = new PageBatchReader(layout, agreedEncodings);
        decoder = new io.livemig.compress.PageDecoder(layout.pageSizeBytes());
        decoded = ByteBuffer.allocateDirect(layout.pageSizeBytes()).order(ByteOrder.nativeOrder());
        if (setup.verify()) {
            digests = new PageDigests(layout);
            digester = new PageDigests.Digester(layout.pageSizeBytes());
            zeroDigest = PageDigests.zeroDigest(layout.pageSizeBytes());
            pageScratch = PageDigests.scratch(layout.pageSizeBytes(), 1);
        }
        send(Messages.writeEmpty(writer, FrameType.READY));
        phase = MigrationPhase.LIVE_COPY;
        state = State.RECEIVING;
    }

    private final PageBatchReader.Sink applyPage = this::applyPage;

    private void onPages(Frame frame) throws WireException, MigrationException {
        int round;
        try {
            round = batchReader.read(frame, applyPage);
        } catch (io.livemig.compress.CorruptPageException e) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "undecodable page: " + e.getMessage());
        }
        maxRound = Math.max(maxRound, round);
        if (state == State.POSTCOPY) {
            // Flow control: acknowledge every 256 KiB (see PostCopyPhase.PUSH_WINDOW_BYTES).
            postcopyBytes += Wire.MIN_FRAME_BYTES + frame.payload().limit();
            if (postcopyBytes - postcopyAckedAt >= ACK_EVERY_BYTES) {
                postcopyAckedAt = postcopyBytes;
                ackWriter.begin(FrameType.POSTCOPY_ACK).putLong(postcopyBytes);
                send(ackWriter.finish());
            }
        }
    }

    private static final long ACK_EVERY_BYTES = 256 << 10;
    private final FrameWriter ackWriter = new FrameWriter(64);
    private long postcopyBytes;
    private long postcopyAckedAt;

    private void applyPage(long page, PageEncoding encoding, ByteBuffer payload) {
        pagesByEncoding[encoding.wireId()]++;
        bytesByEncoding[encoding.wireId()] += payload.remaining();
        if (state == State.POSTCOPY) {
            ByteBuffer content = payload;
            PageEncoding installed = encoding;
            if (encoding == PageEncoding.XBZRLE || encoding == PageEncoding.DEDUP) {
                throw new io.livemig.compress.CorruptPageException(page, encoding, encoding.reportName()
                        + " in post-copy: the destination may not hold the content it builds on");
            }
            if (encoding != PageEncoding.ZERO && encoding != PageEncoding.RAW) {
                decoded.clear();
                decoder.decode(page, encoding, payload, decoded);
                content = decoded.duplicate().position(0).limit(decoded.capacity());
                installed = PageEncoding.RAW;
            }
            if (postcopy.install(page, installed, content) && digests != null) {
                digests.set(page, installed == PageEncoding.ZERO ? zeroDigest : digester.digest(content, content.position()));
            }
            return;
        }
        switch (encoding) {
            case ZERO -> sink.zeroPages(page, 1);
            case RAW -> sink.writePages(page, 1, payload);
            case XBZRLE, LZ4, ZSTD, DEDUP -> {
                decoded.clear();
                long base = io.livemig.compress.PageDecoder.basePage(page, encoding, payload);
                if (base >= 0) {
                    if (!setup.descriptor().memoryLayout().contains(base)) {
                        throw new io.livemig.compress.CorruptPageException(page, encoding, "refers to page " + base
                                + ", which is not guest RAM");
                    }
                    sink.readPages(base, 1, decoded);
                    decoded.clear();
                }
                decoder.decode(page, encoding, payload, decoded);
                decoded.clear();
                sink.writePages(page, 1, decoded);
            }
            default -> throw new IllegalStateException("encoding " + encoding + " passed the batch check unagreed");
        }
        if (digests != null) {
            pageScratch.clear();
            sink.readPages(page, 1, pageScratch);
            digests.set(page, digester.digest(pageScratch, 0));
        }
    }

    private void onVcpuState(Frame frame) throws WireException {
        VcpuState s = Messages.readVcpuState(frame, setup.descriptor().vcpuCount());
        if (vcpuStates.putIfAbsent(s.index(), s) != null) {
            throw new WireException(Kind.UNEXPECTED, "second state for vCPU " + s.index());
        }
    }

    private void onDeviceState(Frame frame) throws WireException {
        Messages.DeviceState s = Messages.DeviceState.read(frame);
        if (!setup.descriptor().deviceIds().contains(s.id())) {
            throw new WireException(Kind.UNEXPECTED, "state for device '" + s.id() + "', which SETUP did not announce");
        }
        if (deviceStates.putIfAbsent(s.id(), s.data()) != null) {
            throw new WireException(Kind.UNEXPECTED, "second state for device '" + s.id() + "'");
        }
    }

    private void onCommit(Messages.Commit commit) throws WireException, MigrationException {
        VmDescriptor d = setup.descriptor();
        if (commit.vcpuStates() != d.vcpuCount() || vcpuStates.size() != d.vcpuCount()) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "COMMIT with " + vcpuStates.size() + " vCPU states (frame says "
                    + commit.vcpuStates() + "), the VM has " + d.vcpuCount());
        }
        if (commit.deviceStates() != d.deviceIds().size() || deviceStates.size() != d.deviceIds().size()) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "COMMIT with " + deviceStates.size()
                    + " device states (frame says " + commit.deviceStates() + "), SETUP announced " + d.deviceIds());
        }
        try {
            List<VcpuState> ordered = new java.util.ArrayList<>();
            for (int i = 0; i < d.vcpuCount(); i++) {
                ordered.add(vcpuStates.get(i));
            }
            long t0 = time.nanoTime();
            target.vcpus().loadState(ordered);
            LOG.debug("COMMIT: vCPU state loaded in {} µs", (time.nanoTime() - t0) / 1000);
            for (MigratableDevice device : target.devices()) {
                byte[] state = deviceStates.get(device.id());
                if (state == null) {
                    throw new IllegalArgumentException("no state for the target's device '" + device.id() + "'");
                }
                device.loadState(state);
            }
        } catch (IllegalArgumentException e) {
            throw new ProtocolException(Kind.UNEXPECTED, "the target refused the state: " + e.getMessage(), phase,
                    SourceVmState.UNKNOWN, e);
        } catch (RuntimeException e) {
            throw new MigrationException("loading state into the target failed: " + e.getMessage(), phase,
                    SourceVmState.UNKNOWN, e);
        }
        if (commit.postcopy()) {
            if (announcedMissing == null) {
                throw new WireException(Kind.UNEXPECTED, "post-copy COMMIT without MISSING_PAGES");
            }
            if (!setup.mayPostcopy()) {
                throw new WireException(Kind.UNEXPECTED, "post-copy COMMIT, but SETUP did not announce post-copy");
            }
            postcopy = new PostcopyReceiver(target.demandPaging().orElseThrow(), announcedMissing, time,
                    this::sendRequest, setup.descriptor().vcpuCount());
        } else if (announcedMissing != null) {
            throw new WireException(Kind.UNEXPECTED, "MISSING_PAGES announced, but COMMIT is not post-copy");
        }
        long r0 = time.nanoTime();
        target.vcpus().resume();
        resumeNanos = time.nanoTime();
        LOG.debug("resumed in {} µs", (resumeNanos - r0) / 1000);
        resumed = true;
        send(Messages.writeEmpty(writer, FrameType.RESUMED));
        if (commit.postcopy()) {
            phase = MigrationPhase.POST_COPY;
            state = State.POSTCOPY;
            return;
        }
        phase = MigrationPhase.VERIFY;
        state = setup.verify() ? State.VERIFYING : State.DONE;
        if (state == State.DONE) {
            phase = MigrationPhase.DONE;
        }
    }

    private void onMissingPages(Frame frame) throws WireException {
        if (announcedMissing == null) {
            announcedMissing = new PageSet(setup.descriptor().memoryLayout().pageSpan());
        }
        Messages.readBitmap(frame, setup.descriptor().memoryLayout(), announcedMissing);
    }

    private void onPostcopyEnd(Frame frame) throws WireException, MigrationException {
        Messages.readEmpty(frame);
        long missing = postcopy.missingPages();
        if (missing != 0) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "POSTCOPY_END with " + missing
                    + " announced pages never sent");
        }
        postcopy.close();
        send(postcopy.done().write(writer));
        LOG.debug("post-copy complete: {}", postcopy.done());
        phase = MigrationPhase.VERIFY;
        state = setup.verify() ? State.VERIFYING : State.DONE;
        if (state == State.DONE) {
            phase = MigrationPhase.DONE;
        }
    }

    /** Sends a PAGE_REQUEST for the requester thread; false if the link is down right now. */
    private boolean sendRequest(ByteBuffer frame) {
        synchronized (sendLock) {
            try {
                channel.send(frame);
                return true;
            } catch (IOException e) {
                LOG.debug("page request not sent: {}", e.getMessage());
                return false;
            }
        }
    }

    /**
     * Post-copy recovery: a new channel from the reconnector, then tell the source what is still
     * missing and wait for its acknowledgement; outstanding requests are asked again.
     */
    private void recover(ChannelException broken) throws MigrationException {
        if (++recoveries > 16) {
            throw broken;
        }
        LOG.warn("post-copy link broke ({}); waiting for a new channel", broken.reason());
        Channel fresh;
        try {
            channel.close();
            fresh = reconnector.reconnect();
        } catch (IOException | RuntimeException e) {
            throw new ChannelException("no new channel for post-copy recovery: " + e.getMessage(), phase,
                    SourceVmState.SPLIT, e);
        }
        synchronized (sendLock) {
            channel = fresh;
        }
        PageSet missing = postcopy.missingSet();
        FrameWriter big = new FrameWriter(Math.min(maxFrameBytes, fresh.maxMessageBytes()));
        int perFrame = Math.min(Wire.MAX_BITMAP_WORDS, (big.capacity() - 64) / 8);
        for (int first = 0; first < missing.wordCount(); first += perFrame) {
            Messages.writeBitmap(big.begin(FrameType.RECOVER_MISSING), missing, first,
                    Math.min(perFrame, missing.wordCount() - first));
            send(big.finish());
        }
        big.begin(FrameType.RECOVER).putLong(missing.cardinality());
        send(big.finish());
        Frame ack = receive();
        if (ack.type() != FrameType.RECOVER_ACK) {
            throw protocol(Kind.UNEXPECTED, "expected RECOVER_ACK after recovery, got " + ack.type());
        }
        postcopyBytes = 0;
        postcopyAckedAt = 0;
        postcopy.rerequestOutstanding();
        LOG.info("post-copy recovered: {} pages still missing", missing.cardinality());
    }

    private int recoveries;

    private MigrationException splitFailure(Exception e) {
        long missing = postcopy == null ? -1 : postcopy.missingPages();
        try {
            target.vcpus().pause();
        } catch (RuntimeException pauseError) {
            LOG.warn("could not pause the target", pauseError);
        }
        target.close();
        return new MigrationException("post-copy failed and was not recovered: this destination ran the VM (its vCPU "
                + "and device state and every page received, with " + missing + " pages still missing) and has now "
                + "stopped and discarded it; the source holds the VM's memory as of the pause. Cause: "
                + e.getMessage(), MigrationPhase.POST_COPY, SourceVmState.SPLIT, e);
    }

    private void onDigests(Frame frame) throws WireException {
        if (verifyStartNanos < 0) {
            verifyStartNanos = time.nanoTime();
        }
        long first = frame.u64("firstPage");
        long count = frame.u32("count");
        if (count < 1 || count != frame.remaining() / 4 || frame.remaining() % 4 != 0) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "DIGESTS announces " + count + " digests in "
                    + frame.remaining() + " bytes");
        }
        if (!setup.descriptor().memoryLayout().containsRun(first, count)) {
            throw new WireException(Kind.PAGE_OUT_OF_RANGE, "DIGESTS for pages [" + first + ", +" + count
                    + ") outside the layout");
        }
        ByteBuffer p = frame.payload();
        for (long page = first; page < first + count; page++) {
            if (p.getInt() != digests.get(page)) {
                if (mismatchedPages++ == 0) {
                    firstMismatch = page;
                }
            }
        }
        digestsChecked += count;
    }

    private void onDigestsEnd(Frame frame) throws WireException, MigrationException {
        long total = frame.u64("totalPages");
        frame.expectEnd();
        long expected = setup.descriptor().memoryLayout().pageCount();
        if (total != expected || digestsChecked != expected) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "DIGESTS_END says " + total + " pages, " + digestsChecked
                    + " were received, the layout has " + expected);
        }
        verification = mismatchedPages == 0 ? Verification.VERIFIED : Verification.MISMATCH;
        if (mismatchedPages > 0) {
            LOG.warn("verification failed: {} pages differ from the source's, first at page {}", mismatchedPages,
                    firstMismatch);
        }
        send(new Messages.VerifyResult(digestsChecked, mismatchedPages, firstMismatch).write(writer));
        phase = MigrationPhase.DONE;
        state = State.DONE;
    }

    /**
     * Before the switchover the return path is quiet for as long as rounds last, which can be
     * longer than the source's receive timeout: send a KEEPALIVE when it has been quiet for
     * {@link #keepAliveNanos} of real time. (Only with the system clock: in virtual time the
     * channels do not time out, and an extra frame at a wall-clock moment would make runs differ.)
     */
    private void keepAlive() throws MigrationException {
        if ((state == State.AWAIT_SETUP || state == State.RECEIVING || state == State.STOPPED) && time.isWallClock()
                && System.nanoTime() - lastReturnSendNanos >= keepAliveNanos) {
            send(Messages.writeEmpty(writer, FrameType.KEEPALIVE));
        }
    }

    private void send(ByteBuffer frame) throws MigrationException {
        try {
            synchronized (sendLock) {
                channel.send(frame);
                lastReturnSendNanos = System.nanoTime();
            }
        } catch (IOException e) {
            throw new ChannelException("return path to " + channel.peer() + " failed: " + e.getMessage(), phase,
                    SourceVmState.UNKNOWN, e);
        }
    }

    private ProtocolException protocol(Kind kind, String message) {
        return new ProtocolException(kind, message, phase, SourceVmState.UNKNOWN);
    }

    private MigrationReport report() {
        Map<String, Long> byEncoding = new TreeMap<>();
        Map<String, Long> bytes = new TreeMap<>();
        long saved = 0;
        int pageSize = setup == null ? 0 : setup.descriptor().memoryLayout().pageSizeBytes();
        for (PageEncoding e : PageEncoding.values()) {
            if (pagesByEncoding[e.wireId()] > 0) {
                byEncoding.put(e.reportName(), pagesByEncoding[e.wireId()]);
                bytes.put(e.reportName(), bytesByEncoding[e.wireId()]);
                saved += pagesByEncoding[e.wireId()] * pageSize - bytesByEncoding[e.wireId()];
            }
        }
        Duration downtime = switchoverNanos >= 0 && resumeNanos >= 0
                ? Duration.ofNanos(resumeNanos - switchoverNanos) : Duration.ZERO;
        long end = time.nanoTime();
        return MigrationReport.builder(setup == null ? Strategy.COLD : setup.strategy())
                .memoryBytes(setup == null ? 0 : setup.descriptor().memoryLayout().memoryBytes())
                .totals(new MigrationReport.Totals(Duration.ofNanos((verifyStartNanos >= 0 ? verifyStartNanos : end)
                        - startNanos), bytesReceived, maxRound + 1))
                .switchover(new MigrationReport.Switchover(downtime, Duration.ZERO, false, List.of()))
                .encodings(new MigrationReport.Encodings(byEncoding, bytes, 0, saved))
                .verification(new MigrationReport.Check(verification, mismatchedPages,
                        verifyStartNanos >= 0 ? Duration.ofNanos(end - verifyStartNanos) : Duration.ZERO))
                .postcopy(postcopy == null ? null : postcopy.stats(recoveries))
                .build();
    }
}
