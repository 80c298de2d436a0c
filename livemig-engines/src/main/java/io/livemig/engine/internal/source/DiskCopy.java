package io.livemig.engine.internal.source;

import io.livemig.api.DiskCopyMode;
import io.livemig.api.DiskStats;
import io.livemig.api.MigrationException;
import io.livemig.api.ProtocolException;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.compress.ZeroPages;
import io.livemig.engine.internal.strategy.CopyContext;
import io.livemig.engine.internal.wire.BlockDigest;
import io.livemig.engine.internal.wire.DiskFrames;
import io.livemig.engine.internal.wire.DiskFrames.Mode;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.spi.BlockTracker;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.DiskSource;
import io.livemig.spi.PageSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * The source's side of disk migration, dsync's way (Knauth and Fetzer, LISA'13): a first pass over
 * the blocks the destination lacks, then in each round the blocks the disk's {@link BlockTracker}
 * saw written since, and a last round while the VM is paused. Which blocks the first pass covers
 * depends on the destination's copy, as its DISK_PLAN says (docs/protocol.md, section 7):
 * <ul>
 *   <li>a replica of the source change log's generation: only the blocks the log has set;</li>
 *   <li>a copy of unknown age: every block, but those whose digest matches the copy's are
 *       skipped;</li>
 *   <li>a new disk: every block that is not zero.</li>
 * </ul>
 * After each round it asks the destination to make the blocks durable (DISK_FLUSH) and, once it
 * answers, confirms them to the tracker, which only then clears them from its change log: a sync
 * cut short loses nothing.
 *
 * <p>The migration's thread only.
 */
final class DiskCopy {

    private static final Logger LOG = LoggerFactory.getLogger(DiskCopy.class);
    /** Most content bytes per DISK_BLOCKS frame. */
    private static final int MAX_RUN_BYTES = 1 << 20;
    /**
     * Within a long pass, the blocks sent are made durable and confirmed every this many bytes, so
     * that a sync cut short keeps the credit for what it delivered.
     */
    private static final long CONFIRM_EVERY_BYTES = 64L << 20;


    private final List<Disk> disks = new ArrayList<>();
    private final List<? extends DiskSource> sources;
    private final SourceLink link;
    private final TimeSource time;
    private final DiskCopyMode mode;
    private int frameLimitBytes;
    /** The write-blocking mode's sender, once mirroring began; null before (and in the background mode). */
    private DiskMirror mirror;
    private FrameWriter writer;
    private ByteBuffer scratch;
    private long flushSequence;
    private boolean started;

    /**
     * @param sources  the VM's disks
     * @param strategy the strategy: every live one needs a tracker on every disk
     * @param mode     how disks are copied while the VM runs
     * @param link     the link to the destination
     * @throws IllegalArgumentException if a disk without change tracking would be copied live
     */
    DiskCopy(List<? extends DiskSource> sources, Strategy strategy, DiskCopyMode mode, SourceLink link,
             TimeSource time) {
        this.sources = sources;
        this.mode = mode;
        this.link = link;
        this.time = time;
        for (int i = 0; i < sources.size(); i++) {
            DiskSource s = sources.get(i);
            BlockTracker tracker = s.tracker().orElse(null);
            if (tracker == null && strategy != Strategy.COLD) {
                throw new IllegalArgumentException("disk " + s.descriptor().id() + " cannot track written blocks, so "
                        + "it cannot be copied while the VM runs; migrate this VM with COLD");
            }
            disks.add(new Disk(i, s, tracker));
        }
    }

    /** @return whether the VM has disks */
    boolean any() {
        return !disks.isEmpty();
    }

    /** @return SETUP's disk offers: each log's generation and the one it takes if the destination's copy is not its replica */
    List<DiskFrames.DiskOffer> offers() {
        List<DiskFrames.DiskOffer> offers = new ArrayList<>();
        for (Disk d : disks) {
            offers.add(new DiskFrames.DiskOffer(d.tracker == null ? "" : d.tracker.generation().orElse(""),
                    d.nextGeneration));
        }
        return offers;
    }

    /**
     * After SETUP: takes DISK_PLAN and the replicas' digests, up to READY.
     *
     * @throws MigrationException if the destination answers out of order or inconsistently
     */
    void takePlan() throws MigrationException {
        DiskFrames.DiskPlan plan = link.await(DiskFrames.DiskPlan.class).message();
        for (int i = 0; i < disks.size(); i++) {
            Disk d = disks.get(i);
            d.mode = plan.modes().get(i);
            d.demand = plan.demand(i);
            if (d.mode == Mode.REPLICA && (d.tracker == null || !d.tracker.generation().isPresent())) {
                throw link.protocol(ProtocolException.Kind.UNEXPECTED, "the destination takes disk " + d.id()
                        + " as a replica of a change log this source does not have");
            }
            if (d.mode == Mode.DIGESTS) {
                long blocks = d.descriptor.blockCount();
                if (blocks > Integer.MAX_VALUE) {
                    throw link.protocol(ProtocolException.Kind.INCOMPATIBLE, "disk " + d.id() + " has too many blocks "
                            + "to compare by digest (" + blocks + ")");
                }
                d.replicaDigests = new long[(int) blocks];
                d.digestsMissing = blocks;
            }
        }
        while (true) {
            Message m = link.awaitAny();
            if (m instanceof HandshakeFrames.Ready) {
                break;
            }
            if (!(m instanceof DiskFrames.BlockDigests digests) || digests.type() != io.livemig.engine.internal.wire
                    .FrameType.DISK_DIGESTS) {
                throw link.protocol(ProtocolException.Kind.UNEXPECTED, "expected DISK_DIGESTS or READY, got " + m.type());
            }
            Disk d = disks.get(digests.disk());
            if (d.replicaDigests == null) {
                throw link.protocol(ProtocolException.Kind.UNEXPECTED, "DISK_DIGESTS for disk " + d.id()
                        + ", which the plan does not compare by digest");
            }
            System.arraycopy(digests.digests(), 0, d.replicaDigests, (int) digests.firstBlock(),
                    digests.digests().length);
            d.digestsMissing -= digests.digests().length;
        }
        for (Disk d : disks) {
            if (d.digestsMissing != 0) {
                throw link.protocol(ProtocolException.Kind.INCONSISTENT_LENGTH, "READY before every digest of disk "
                        + d.id() + " (" + d.digestsMissing + " short)");
            }
            LOG.debug("disk {}: {}", d.id(), d.mode);
        }
    }

    /**
     * Starts the trackers and picks each disk's first pass. Called once, before the first round.
     * Without a disk it makes no buffer: the frame writer takes the whole frame limit (16 MiB of
     * direct memory, 8-99 ms to allocate on a virtualised host, measured on the migration's way to
     * its first round).
     *
     * @param frameLimitBytes the agreed frame limit
     */
    void start(int frameLimitBytes) {
        this.frameLimitBytes = frameLimitBytes;
        if (disks.isEmpty()) {
            started = true;
            return;
        }
        writer = new FrameWriter(frameLimitBytes);
        int blockBytes = disks.stream().mapToInt(d -> d.descriptor.blockSizeBytes()).max().orElse(4096);
        int room = frameLimitBytes - Wire.MIN_FRAME_BYTES - DiskFrames.BLOCKS_HEADER_BYTES;
        int runBytes = Math.max(blockBytes, Math.min(MAX_RUN_BYTES, room / blockBytes * blockBytes));
        scratch = ByteBuffer.allocateDirect(runBytes);
        for (Disk d : disks) {
            long blocks = d.descriptor.blockCount();
            if (d.tracker != null) {
                d.tracker.start();
            }
            if (d.mode == Mode.REPLICA) {
                String generation = d.tracker.generation().orElse("");
                d.pending = d.tracker.changedSince(generation).orElse(null);
                if (d.pending == null) {
                    // The log moved on since SETUP: the replica is no longer known; send everything.
                    LOG.warn("disk {}: the change log left generation {} during the handshake; sending every block",
                            d.id(), generation);
                    d.pending = all(blocks);
                }
            } else {
                if (d.tracker != null) {
                    d.tracker.pair(d.nextGeneration);
                }
                d.pending = all(blocks);
            }
            d.firstPass = true;
        }
        started = true;
    }

    /** @return whether the frame writer and the read buffer are made (only once started with a disk) */
    boolean buffersMade() {
        return writer != null;
    }

    private static PageSet all(long blocks) {
        PageSet s = new PageSet(blocks);
        s.addRange(0, blocks);
        return s;
    }

    /**
     * Sends each disk's pending blocks, has them made durable and confirmed, and collects the
     * blocks written meanwhile as the next round's.
     *
     * @param paused whether this is the last round, the VM paused (every tracker is then stopped)
     * @return what it sent, and the bytes still dirty
     * @throws MigrationException if cancelled or the link failed
     */
    CopyContext.DiskRound sendRound(boolean paused) throws MigrationException {
        if (disks.isEmpty()) {
            return CopyContext.DiskRound.NONE;
        }
        if (!started) {
            throw new IllegalStateException("disk copy not started");
        }
        if (mirror != null) {
            return paused ? endMirror() : mirrorRound();
        }
        long startNanos = time.nanoTime();
        long bytesBefore = link.bytesSent();
        long blocks = 0;
        List<PageSet> sent = new ArrayList<>(disks.size());
        for (Disk d : disks) {
            if (paused && d.tracker != null) {
                d.pending.addAll(d.tracker.collect());
            }
            long n = send(d);
            blocks += n;
            d.perRound.add(n);
            sent.add(d.pending);
            d.firstPass = false;
        }
        flushDestination();
        long dirtyLeft = 0;
        for (int i = 0; i < disks.size(); i++) {
            Disk d = disks.get(i);
            if (d.tracker != null) {
                // Durable there: the log may forget these blocks, unless written since they were read.
                d.tracker.confirm(sent.get(i));
                if (paused) {
                    d.tracker.stop();
                    d.pending = new PageSet(d.descriptor.blockCount());
                } else {
                    d.pending = d.tracker.collect();
                }
            } else {
                d.pending = new PageSet(d.descriptor.blockCount());
            }
            dirtyLeft += d.pending.cardinality() * d.descriptor.blockSizeBytes();
        }
        // Real time only: in virtual time a second sending thread would make runs differ.
        if (!paused && mode == DiskCopyMode.WRITE_BLOCKING && time.isWallClock()
                && disks.stream().allMatch(Disk::canMirror)) {
            // The first pass is done: from now on writes travel as they happen.
            dirtyLeft = beginMirror();
        }
        return new CopyContext.DiskRound(blocks, link.bytesSent() - bytesBefore, time.nanoTime() - startNanos, dirtyLeft);
    }

    /**
     * Starts the write-blocking mode: each disk's writes go to the {@link DiskMirror} from now on,
     * and the blocks written since the last round's read are owed to it, in order after nothing.
     *
     * @return the bytes queued
     */
    private long beginMirror() {
        mirror = new DiskMirror(sources, link, frameLimitBytes);
        for (Disk d : disks) {
            d.source.writeMirror().orElseThrow().start(mirror.listener(d.index));
            // Started first: a write from here on is mirrored; one before it is in the live set.
            d.pending.addAll(d.tracker.collect());
            mirror.owe(d.index, d.pending);
            d.pending = new PageSet(d.descriptor.blockCount());
            d.mirroredBefore = 0;
        }
        LOG.debug("disks: write-blocking mode, {} bytes owed", mirror.queuedBytes());
        return mirror.queuedBytes();
    }

    /** A live round in the write-blocking mode: the mirror sends; this only reports. */
    private CopyContext.DiskRound mirrorRound() throws MigrationException {
        long startNanos = time.nanoTime();
        // Lets the mirror catch up (at most a second): once the blocks owed from before mirroring
        // are out, the queue holds no more than the writes in flight, as each waits for its own.
        mirror.awaitEmptyWithin(1_000_000_000L);
        // Nothing is confirmed before the pause in this mode, but the destination flushes what it
        // has now, so that the flush in the downtime is short.
        flushDestination();
        long blocks = 0;
        for (Disk d : disks) {
            long n = mirror.blocksSent(d.index);
            d.perRound.add(n - d.mirroredBefore);
            blocks += n - d.mirroredBefore;
            d.mirroredBefore = n;
        }
        return new CopyContext.DiskRound(blocks, 0, time.nanoTime() - startNanos, mirror.queuedBytes());
    }

    /**
     * The last round of the write-blocking mode, the VM paused and its disks drained: sends what the
     * mirror still holds, stops mirroring, and has everything it sent made durable and confirmed.
     */
    private CopyContext.DiskRound endMirror() throws MigrationException {
        long startNanos = time.nanoTime();
        for (Disk d : disks) {
            // Writes that reached the live set after all (none, with a backend that mirrors them).
            mirror.owe(d.index, d.tracker.collect());
        }
        mirror.awaitEmpty();
        long blocks = 0;
        for (Disk d : disks) {
            d.source.writeMirror().orElseThrow().stop();
            long n = mirror.blocksSent(d.index);
            d.perRound.add(n - d.mirroredBefore);
            blocks += n - d.mirroredBefore;
            d.blocksSent += n;
        }
        mirror.close();
        flushDestination();
        for (Disk d : disks) {
            // Paused: no write can come between the flush and this.
            d.tracker.confirm(mirror.sent(d.index));
            d.tracker.stop();
        }
        mirror = null;
        return new CopyContext.DiskRound(blocks, 0, time.nanoTime() - startNanos, 0);
    }

    /** Has the destination make every block received so far durable, and waits for its answer. */
    private void flushDestination() throws MigrationException {
        long sequence = ++flushSequence;
        link.send(new DiskFrames.DiskFlush(sequence));
        long acked = link.await(DiskFrames.DiskFlushed.class).message().count();
        if (acked != sequence) {
            throw link.protocol(ProtocolException.Kind.UNEXPECTED, "DISK_FLUSHED " + acked + " for DISK_FLUSH " + sequence);
        }
    }

    /** @return bytes of blocks still to send, as the last round left them */
    long dirtyBytes() {
        long bytes = mirror == null ? 0 : mirror.queuedBytes();
        for (Disk d : disks) {
            bytes += d.pending == null ? d.descriptor.sizeBytes() : d.pending.cardinality() * d.descriptor.blockSizeBytes();
        }
        return bytes;
    }

    /** Waits for every disk's in-flight requests; the VM is paused. */
    void drain() {
        for (Disk d : disks) {
            d.source.drain();
        }
    }

    /** Stops the trackers (and the mirror) after a failure; the change logs keep every unconfirmed block. */
    void stop() {
        if (mirror != null) {
            for (Disk d : disks) {
                try {
                    d.source.writeMirror().orElseThrow().stop();
                } catch (RuntimeException e) {
                    LOG.warn("could not stop mirroring disk {}", d.id(), e);
                }
            }
            mirror.close();
            mirror = null;
        }
        for (Disk d : disks) {
            if (d.tracker != null) {
                try {
                    d.tracker.stop();
                } catch (RuntimeException e) {
                    LOG.warn("could not stop the tracking of disk {}", d.id(), e);
                }
            }
        }
    }

    /**
     * @return whether post-copy can leave the disks' last blocks for after the resume: the
     *         destination fetches every disk's missing blocks on demand, and no mirror runs
     */
    boolean canDemand() {
        return mirror == null && !disks.isEmpty() && disks.stream().allMatch(d -> d.demand && d.tracker != null);
    }

    /**
     * Post-copy's switchover, the VM paused and drained: announces each disk's blocks still to send
     * (DISK_MISSING) instead of sending them, and stops tracking; they follow after the resume.
     *
     * @return what the post-copy phase pushes and serves
     */
    DiskPostcopy handOverPostcopy() throws MigrationException {
        List<PageSet> missing = new ArrayList<>();
        for (Disk d : disks) {
            PageSet rest = d.pending;
            rest.addAll(d.tracker.collect());
            d.tracker.stop();
            d.pending = new PageSet(d.descriptor.blockCount());
            int perFrame = DiskFrames.MAX_MISSING_WORDS;
            for (int w = 0; w < rest.wordCount(); ) {
                int n = Math.min(perFrame, rest.wordCount() - w);
                long[] words = new long[n];
                rest.copyWords(w, words);
                boolean any = false;
                for (long word : words) {
                    any |= word != 0;
                }
                if (any) {
                    link.send(new DiskFrames.DiskMissing(d.index, w, words));
                }
                w += n;
            }
            missing.add(rest);
        }
        return new DiskPostcopy(this, missing);
    }

    /** Reads and sends blocks {@code [first, first + count)} of disk {@code index} (post-copy). */
    void sendBlocks(int index, long first, int count) throws MigrationException {
        Disk d = disks.get(index);
        int blockBytes = d.descriptor.blockSizeBytes();
        scratch.clear().limit(count * blockBytes);
        d.source.readBlocks(first, count, scratch);
        scratch.flip();
        long bytesBefore = link.bytesSent();
        sendRun(d, first, count, blockBytes);
        d.bytesOnWire += link.bytesSent() - bytesBefore;
    }

    /** @return the most blocks of disk {@code index} one {@link #sendBlocks} takes */
    int maxRunBlocks(int index) {
        return scratch.capacity() / disks.get(index).descriptor.blockSizeBytes();
    }

    /** The post-copy phase ended: the destination has every block durably; the logs may forget them. */
    void postcopyDone(List<PageSet> sent, long[] blocksPerDisk) {
        for (int i = 0; i < disks.size(); i++) {
            Disk d = disks.get(i);
            d.tracker.confirm(sent.get(i));
            d.perRound.add(blocksPerDisk[i]);
        }
    }

    /** @return the per-disk statistics */
    List<DiskStats> stats() {
        List<DiskStats> stats = new ArrayList<>();
        for (Disk d : disks) {
            DiskStats.Sync sync = d.mode == null || d.mode == Mode.EMPTY ? DiskStats.Sync.NEW_DISK
                    : d.mode == Mode.REPLICA ? DiskStats.Sync.CHANGE_LOG : DiskStats.Sync.DIGESTS;
            stats.add(new DiskStats(d.id(), sync, d.descriptor.blockSizeBytes(), d.blocksSent, d.zeroBlocksSent,
                    d.unchanged, d.bytesOnWire, d.perRound));
        }
        return stats;
    }

    /** Sends the pending blocks of one disk in runs; @return blocks sent (with content or as zeros) */
    private long send(Disk d) throws MigrationException {
        int blockBytes = d.descriptor.blockSizeBytes();
        int maxRun = scratch.capacity() / blockBytes;
        long sentBefore = d.blocksSent + d.zeroBlocksSent;
        long bytesBefore = link.bytesSent();
        PageSet pending = d.pending;
        PageSet sinceFlush = d.tracker == null ? null : new PageSet(d.descriptor.blockCount());
        long bytesSinceFlush = 0;
        long block = pending.nextSetBit(0);
        while (block >= 0) {
            long end = pending.nextClearBit(block);
            end = end < 0 ? d.descriptor.blockCount() : end;
            int n = (int) Math.min(end - block, maxRun);
            link.checkCancelled();
            scratch.clear().limit(n * blockBytes);
            d.source.readBlocks(block, n, scratch);
            scratch.flip();
            sendRun(d, block, n, blockBytes);
            if (sinceFlush != null) {
                sinceFlush.addRange(block, n);
                bytesSinceFlush += (long) n * blockBytes;
                if (bytesSinceFlush >= CONFIRM_EVERY_BYTES) {
                    flushDestination();
                    d.tracker.confirm(sinceFlush);
                    sinceFlush.clear();
                    bytesSinceFlush = 0;
                }
            }
            block = pending.nextSetBit(block + n);
        }
        d.bytesOnWire += link.bytesSent() - bytesBefore;
        return d.blocksSent + d.zeroBlocksSent - sentBefore;
    }

    /**
     * Splits a run read into {@link #scratch} by what each block needs: nothing (the destination
     * holds it), a zero run, or its content; sends each stretch as one frame.
     */
    private void sendRun(Disk d, long first, int n, int blockBytes) throws MigrationException {
        if (kinds.length < n) {
            kinds = new byte[n];
        }
        for (int k = 0; k < n; k++) {
            kinds[k] = kind(d, first + k, k * blockBytes, blockBytes);
        }
        int i = 0;
        while (i < n) {
            byte kind = kinds[i];
            int j = i + 1;
            while (j < n && kinds[j] == kind) {
                j++;
            }
            int count = j - i;
            if (kind == SKIP) {
                d.unchanged += count;
            } else if (kind == ZERO) {
                link.sendPaced(new DiskFrames.DiskBlocks(d.index, true, first + i, count, null).write(writer));
                d.zeroBlocksSent += count;
            } else {
                ByteBuffer b = DiskFrames.DiskBlocks.beginData(writer, d.index, first + i, count);
                b.put(scratch.duplicate().position(i * blockBytes).limit(j * blockBytes));
                link.sendPaced(DiskFrames.DiskBlocks.endData(writer, b, count * blockBytes));
                d.blocksSent += count;
            }
            i = j;
        }
    }

    private static final byte SKIP = 0;
    private static final byte ZERO = 1;
    private static final byte DATA = 2;
    /** What each block of the run in {@link #scratch} needs. */
    private byte[] kinds = new byte[0];

    private byte kind(Disk d, long block, int offset, int blockBytes) {
        ByteBuffer content = scratch.duplicate().position(offset).limit(offset + blockBytes);
        if (d.firstPass && d.replicaDigests != null) {
            return BlockDigest.of(content) == d.replicaDigests[(int) block] ? SKIP : isZero(content) ? ZERO : DATA;
        }
        if (isZero(content)) {
            return d.firstPass && d.mode == Mode.EMPTY ? SKIP : ZERO;
        }
        return DATA;
    }

    /** @return whether every byte between {@code b}'s position and limit is zero (whole blocks: a multiple of 8) */
    static boolean isZero(ByteBuffer b) {
        return ZeroPages.isZero(b, b.position(), b.remaining());
    }

    /** One disk's state. */
    private static final class Disk {
        final int index;
        final DiskSource source;
        final DiskDescriptor descriptor;
        final BlockTracker tracker;
        final String nextGeneration = UUID.randomUUID().toString().replace("-", "");
        Mode mode;
        /** Whether the destination fetches this disk's missing blocks on demand (post-copy). */
        boolean demand;
        long[] replicaDigests;
        long digestsMissing;
        PageSet pending;
        boolean firstPass;
        long blocksSent;
        long zeroBlocksSent;
        long unchanged;
        long bytesOnWire;
        final List<Long> perRound = new ArrayList<>();
        /** Blocks the mirror had sent at the last round's report. */
        long mirroredBefore;

        Disk(int index, DiskSource source, BlockTracker tracker) {
            this.index = index;
            this.source = source;
            this.descriptor = source.descriptor();
            this.tracker = tracker;
        }

        String id() {
            return descriptor.id();
        }

        boolean canMirror() {
            return tracker != null && source.writeMirror().isPresent();
        }
    }
}
