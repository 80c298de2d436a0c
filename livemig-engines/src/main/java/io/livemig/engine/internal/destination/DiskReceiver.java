package io.livemig.engine.internal.destination;

import io.livemig.api.DiskStats;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.engine.internal.wire.BlockDigest;
import io.livemig.engine.internal.wire.DiskFrames;
import io.livemig.engine.internal.wire.DiskFrames.Mode;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.BlockDemand;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.DiskSink;
import io.livemig.spi.PageSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The destination's side of disk migration (docs/protocol.md, section 7): decides how each disk is
 * taken (DISK_PLAN), sends a replica's digests when its age is unknown, writes DISK_BLOCKS once
 * each frame was checked whole (range, length, digest: a malformed frame leaves the disk as it
 * was), makes the blocks durable on DISK_FLUSH before it answers, and compares the source's
 * digests (DISK_VERIFY) with the disks' blocks as they were at the resume.
 *
 * <p>Verification keeps one xxHash64 per block, taken at the setup for the blocks already there and
 * on every write after, so that the guest's own writes after the resume do not count as
 * differences. Disks of more than {@value #MAX_VERIFIED_BLOCKS} blocks are not verified.
 *
 * <p>The receiving thread only.
 */
final class DiskReceiver {

    private static final Logger LOG = LoggerFactory.getLogger(DiskReceiver.class);
    private static final int MAX_VERIFIED_BLOCKS = DiskFrames.MAX_VERIFIED_BLOCKS;
    /** Blocks read per bulk read when digesting a replica. */
    private static final int DIGEST_CHUNK_BYTES = 1 << 20;

    private final List<DiskDescriptor> disks;
    private final List<DiskSink> sinks;
    private final List<Mode> modes = new ArrayList<>();
    /** Per disk: each block's digest as the disk holds it now, or null without verification. */
    private final long[][] digests;
    /** Per disk: blocks written with content, and as zero runs. */
    private final long[] blocksWritten;
    private final long[] zeroBlocksWritten;
    private long checkedBlocks;
    private long mismatchedBlocks;
    /** Per disk: the blocks DISK_MISSING announced for after the resume, or null. */
    private final PageSet[] missing;
    /** Per disk: its demand fetching once armed (post-copy), else null. */
    private final BlockDemand[] armed;
    private BlockRequester requester;
    /** Zeros for zero runs, never written: 1 MiB, or one block of the largest size. */
    private final ByteBuffer zeros;
    /** Per disk: the digest of a zero block. */
    private final long[] zeroDigests;

    /**
     * Matches the target's disks with the announced ones.
     *
     * @throws WireException if the target lacks a disk or has one of another size or block size
     */
    DiskReceiver(List<DiskDescriptor> announced, List<? extends DiskSink> targetDisks, boolean verify) throws WireException {
        this.disks = List.copyOf(announced);
        this.sinks = List.copyOf(targetDisks);
        if (sinks.size() != disks.size()) {
            throw new WireException(Kind.INCOMPATIBLE, "the source announces " + disks.size() + " disks "
                    + ids(disks) + ", the target has " + sinks.size());
        }
        for (int i = 0; i < disks.size(); i++) {
            if (!sinks.get(i).descriptor().equals(disks.get(i))) {
                throw new WireException(Kind.INCOMPATIBLE, "the source's disk " + disks.get(i)
                        + " does not match the target's " + sinks.get(i).descriptor());
            }
        }
        this.digests = new long[disks.size()][];
        this.missing = new PageSet[disks.size()];
        this.armed = new BlockDemand[disks.size()];
        this.blocksWritten = new long[disks.size()];
        int maxBlock = disks.stream().mapToInt(DiskDescriptor::blockSizeBytes).max().orElse(4096);
        this.zeros = ByteBuffer.allocateDirect(Math.max(1 << 20, maxBlock));
        this.zeroDigests = new long[disks.size()];
        for (int i = 0; i < disks.size(); i++) {
            zeroDigests[i] = BlockDigest.of(zeros.duplicate().limit(disks.get(i).blockSizeBytes()));
        }
        this.zeroBlocksWritten = new long[disks.size()];
        if (verify) {
            for (int i = 0; i < disks.size(); i++) {
                long blocks = disks.get(i).blockCount();
                if (blocks <= MAX_VERIFIED_BLOCKS) {
                    digests[i] = new long[(int) blocks];
                } else {
                    LOG.warn("disk {} has {} blocks, more than the {} verification keeps digests for; it is not "
                            + "verified", disks.get(i).id(), blocks, MAX_VERIFIED_BLOCKS);
                }
            }
        }
    }

    private static List<String> ids(List<DiskDescriptor> disks) {
        return disks.stream().map(DiskDescriptor::id).toList();
    }

    /**
     * Decides each disk's mode, records the generation it becomes a replica of (before any block is
     * written), and sends DISK_PLAN and the digests the source compares with. READY follows.
     *
     * @param offers the source logs' generations, one per disk
     */
    void plan(List<DiskFrames.DiskOffer> offers, DestinationLink link) throws WireException,
            io.livemig.api.MigrationException {
        for (int i = 0; i < disks.size(); i++) {
            DiskSink sink = sinks.get(i);
            DiskFrames.DiskOffer offer = offers.get(i);
            String held = sink.replicaGeneration().orElse("");
            Mode mode;
            if (!offer.generation().isEmpty() && offer.generation().equals(held)) {
                mode = Mode.REPLICA;
            } else {
                mode = sink.startsEmpty() ? Mode.EMPTY : Mode.DIGESTS;
                sink.beginReplicaOf(offer.nextGeneration());
            }
            modes.add(mode);
            LOG.debug("disk {}: {} (replica of '{}', source log '{}')", disks.get(i).id(), mode, held,
                    offer.generation());
        }
        long demand = 0;
        for (int i = 0; i < sinks.size(); i++) {
            if (sinks.get(i).demand().isPresent()) {
                demand |= 1L << i;
            }
        }
        link.send(new DiskFrames.DiskPlan(modes, demand));
        int perFrame = Math.min(DiskFrames.RETURN_DIGESTS,
                (link.maxFrameBytes() - Wire.MIN_FRAME_BYTES - DiskFrames.DIGESTS_HEADER_BYTES) / 8);
        for (int i = 0; i < disks.size(); i++) {
            Mode mode = modes.get(i);
            if (mode == Mode.DIGESTS || (mode == Mode.REPLICA && digests[i] != null)) {
                digestAll(i, mode == Mode.DIGESTS ? link : null, perFrame);
            } else if (mode == Mode.EMPTY && digests[i] != null) {
                java.util.Arrays.fill(digests[i], zeroDigests[i]);
            }
        }
    }

    /** Digests every block of disk {@code i}, keeps the digests for verification, and sends them if {@code link} is given. */
    private void digestAll(int i, DestinationLink link, int perFrame) throws io.livemig.api.MigrationException {
        DiskDescriptor d = disks.get(i);
        int blockBytes = d.blockSizeBytes();
        int chunkBlocks = Math.max(1, DIGEST_CHUNK_BYTES / blockBytes);
        ByteBuffer chunk = ByteBuffer.allocateDirect(chunkBlocks * blockBytes);
        long[] out = new long[perFrame];
        int pending = 0;
        long block = 0;
        long count = d.blockCount();
        while (block < count) {
            int n = (int) Math.min(Math.min(chunkBlocks, count - block), perFrame - pending);
            chunk.clear().limit(n * blockBytes);
            sinks.get(i).readBlocks(block, n, chunk);
            for (int k = 0; k < n; k++) {
                long h = BlockDigest.of(chunk.duplicate().position(k * blockBytes).limit((k + 1) * blockBytes));
                out[pending + k] = h;
                if (digests[i] != null) {
                    digests[i][(int) (block + k)] = h;
                }
            }
            pending += n;
            block += n;
            if (pending == perFrame || block == count) {
                if (link != null) {
                    link.send(new DiskFrames.BlockDigests(FrameType.DISK_DIGESTS, i, block - pending,
                            java.util.Arrays.copyOf(out, pending)));
                }
                pending = 0;
            }
        }
    }

    /**
     * Adds a DISK_MISSING chunk to the blocks that follow the resume.
     *
     * @throws WireException if the disk cannot fetch blocks on demand
     */
    void announceMissing(DiskFrames.DiskMissing chunk) throws WireException {
        int i = chunk.disk();
        if (sinks.get(i).demand().isEmpty()) {
            throw new WireException(Kind.UNEXPECTED, "DISK_MISSING for disk " + disks.get(i).id()
                    + ", which cannot fetch blocks on demand");
        }
        if (missing[i] == null) {
            missing[i] = new PageSet(disks.get(i).blockCount());
        }
        chunk.addTo(missing[i]);
    }

    /** @return whether disk {@code index} fetches blocks on demand now (post-copy, with blocks announced missing) */
    boolean fetching(int index) {
        return armed[index] != null;
    }

    /** @return whether DISK_MISSING announced any block */
    boolean anyMissing() {
        for (PageSet m : missing) {
            if (m != null && !m.isEmpty()) {
                return true;
            }
        }
        return false;
    }

    /**
     * Post-copy, before the resume: arms demand fetching on every disk with blocks announced
     * missing; a guest request that needs one has it asked for with BLOCK_REQUEST.
     */
    void armDemand(DestinationLink link) {
        if (!anyMissing()) {
            return;
        }
        requester = new BlockRequester(link);
        for (int i = 0; i < disks.size(); i++) {
            if (missing[i] != null && !missing[i].isEmpty()) {
                int disk = i;
                armed[i] = sinks.get(i).demand().orElseThrow();
                armed[i].arm(missing[i], block -> requester.request(disk, block));
            }
        }
    }

    /**
     * POSTCOPY_END: every announced block must have arrived; they are made durable (the source
     * confirms them on POSTCOPY_DONE), and demand fetching ends.
     *
     * @throws WireException if an announced block never came
     */
    void postcopyEnd() throws WireException {
        for (int i = 0; i < disks.size(); i++) {
            if (armed[i] != null && armed[i].missingBlocks() != 0) {
                throw new WireException(Kind.INCONSISTENT_LENGTH, "POSTCOPY_END with " + armed[i].missingBlocks()
                        + " announced blocks of disk " + disks.get(i).id() + " never sent");
            }
        }
        flush();
        close();
    }

    /** Ends demand fetching and stops asking for blocks. Idempotent. */
    void close() {
        for (int i = 0; i < armed.length; i++) {
            if (armed[i] != null) {
                armed[i].disarm();
                armed[i] = null;
            }
        }
        if (requester != null) {
            requester.close();
            requester = null;
        }
    }

    /** Writes a checked DISK_BLOCKS frame (installs it, for a disk fetching on demand). */
    void apply(DiskFrames.DiskBlocks frame) {
        int i = frame.disk();
        int blockBytes = disks.get(i).blockSizeBytes();
        BlockDemand demand = armed[i];
        if (!frame.zero()) {
            // The digests kept take the frame's content even where an install drops a block: it
            // is the source's at the pause.
            ByteBuffer payload = frame.payload();
            if (digests[i] != null) {
                for (int k = 0; k < frame.blockCount(); k++) {
                    digests[i][(int) frame.firstBlock() + k] = BlockDigest.of(payload.duplicate()
                            .position(payload.position() + k * blockBytes)
                            .limit(payload.position() + (k + 1) * blockBytes));
                }
            }
            blocksWritten[i] += store(i, demand, frame.firstBlock(), frame.blockCount(), payload.duplicate());
            return;
        }
        // A zero run may cover a whole disk: it is written from one zero buffer, a chunk at a time.
        int perChunk = zeros.capacity() / blockBytes;
        long block = frame.firstBlock();
        long end = block + frame.blockCount();
        while (block < end) {
            int n = (int) Math.min(end - block, perChunk);
            if (digests[i] != null) {
                java.util.Arrays.fill(digests[i], (int) block, (int) block + n, zeroDigests[i]);
            }
            zeroBlocksWritten[i] += store(i, demand, block, n, zeros.duplicate().limit(n * blockBytes));
            block += n;
        }
    }

    /** @return how many of the blocks were stored: all of them, or those still missing on a disk fetching on demand */
    private int store(int disk, BlockDemand demand, long firstBlock, int blockCount, ByteBuffer content) {
        if (demand != null) {
            return demand.install(firstBlock, blockCount, content);
        }
        sinks.get(disk).writeBlocks(firstBlock, blockCount, content);
        return blockCount;
    }

    /** Makes every block written so far durable. */
    void flush() {
        for (DiskSink sink : sinks) {
            sink.flush();
        }
    }

    /** Compares a DISK_VERIFY frame with the blocks as they were at the resume. */
    void verify(DiskFrames.BlockDigests frame) throws WireException {
        long[] kept = digests[frame.disk()];
        if (kept == null) {
            throw new WireException(Kind.UNEXPECTED, "DISK_VERIFY for disk " + disks.get(frame.disk()).id()
                    + ", which this destination does not verify");
        }
        long[] theirs = frame.digests();
        for (int k = 0; k < theirs.length; k++) {
            if (theirs[k] != kept[(int) frame.firstBlock() + k]) {
                if (mismatchedBlocks++ == 0) {
                    LOG.warn("disk {} block {} differs from the source's", disks.get(frame.disk()).id(),
                            frame.firstBlock() + k);
                }
            }
        }
        checkedBlocks += theirs.length;
    }

    /** @return whether disk {@code i} is verified */
    boolean verifies(int i) {
        return digests[i] != null;
    }

    /** @return the blocks the source must verify: those of every disk this destination keeps digests for */
    long verifiableBlocks() {
        long n = 0;
        for (int i = 0; i < disks.size(); i++) {
            if (digests[i] != null) {
                n += disks.get(i).blockCount();
            }
        }
        return n;
    }

    long checkedBlocks() {
        return checkedBlocks;
    }

    long mismatchedBlocks() {
        return mismatchedBlocks;
    }

    /**
     * @return per disk, what this side wrote: blocks with content as {@code blocksSent}, zero runs
     *         as {@code zeroBlocksSent}; the bytes are those of the content
     */
    List<DiskStats> stats() {
        List<DiskStats> stats = new ArrayList<>();
        for (int i = 0; i < disks.size(); i++) {
            Mode mode = i < modes.size() ? modes.get(i) : Mode.EMPTY;
            DiskStats.Sync sync = switch (mode) {
                case EMPTY -> DiskStats.Sync.NEW_DISK;
                case REPLICA -> DiskStats.Sync.CHANGE_LOG;
                case DIGESTS -> DiskStats.Sync.DIGESTS;
            };
            int blockBytes = disks.get(i).blockSizeBytes();
            stats.add(new DiskStats(disks.get(i).id(), sync, blockBytes, blocksWritten[i],
                    zeroBlocksWritten[i], 0, blocksWritten[i] * blockBytes, List.of()));
        }
        return stats;
    }
}
