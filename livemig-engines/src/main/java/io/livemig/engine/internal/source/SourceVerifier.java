package io.livemig.engine.internal.source;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationReport;
import io.livemig.api.ProtocolException;
import io.livemig.api.TimeSource;
import io.livemig.api.Verification;
import io.livemig.engine.internal.PageDigests;
import io.livemig.engine.internal.wire.BlockDigest;
import io.livemig.engine.internal.wire.DiskFrames;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.VerifyFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.DiskSource;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MemorySource;
import io.livemig.spi.PageSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * The source's side of verification: digests every page of the (still paused) source VM, sends
 * the digests, and takes the destination's comparison. Pages the guest reported free and that
 * were never sent count as zero pages (a hint means their content does not matter), and so do
 * the pages the provider says are unpopulated, without being read; a hole of 16 pages or more
 * goes as one zero run, so what verification reads, digests and sends follows the memory the
 * guest touched, not the VM's size.
 *
 * <p>The migration's thread only.
 */
final class SourceVerifier {

    private static final Logger LOG = LoggerFactory.getLogger(SourceVerifier.class);
    /** Pages read per bulk read. */
    private static final int CHUNK_PAGES = 256;

    /**
     * Holes at least this long go as a zero run (a frame of ~30 bytes); shorter ones as zero
     * digests among the others (4 bytes a page).
     */
    private static final int MIN_ZERO_RUN_PAGES = 16;

    private SourceVerifier() {
    }

    /** Sends the {@code count} digests pending for the pages before {@code endPage}, if any; @return count */
    private static int flush(SourceLink link, int[] digests, long endPage, int count) throws MigrationException {
        if (count > 0) {
            link.send(new VerifyFrames.Digests(endPage - count, Arrays.copyOf(digests, count)));
        }
        return count;
    }

    /**
     * @param skippedFree free pages never sent, or null
     * @return the comparison's result
     * @throws MigrationException if the link failed or the destination's answer is inconsistent
     */
    static MigrationReport.Check verify(MemorySource memory, PageSet skippedFree, List<? extends DiskSource> disks,
                                        SourceLink link, TimeSource time) throws MigrationException {
        long start = time.nanoTime();
        MemoryLayout layout = memory.layout();
        int pageSize = layout.pageSizeBytes();
        PageDigests.Digester digester = new PageDigests.Digester(pageSize);
        int zeroDigest = PageDigests.zeroDigest(pageSize);
        int perFrame = Math.min(VerifyFrames.MAX_DIGESTS,
                (link.frameLimitBytes() - VerifyFrames.DIGESTS_OVERHEAD_BYTES) / 4);
        int[] digests = new int[perFrame];
        ByteBuffer scratch = PageDigests.scratch(pageSize, CHUNK_PAGES);
        // The source is paused: pages outside this set are zero now, and are not read.
        PageSet populated = memory.populatedPages().orElse(null);
        long total = 0;
        for (MemoryRegion region : layout.regions()) {
            long page = region.firstPage();
            int pending = 0; // digests[0, pending) are for pages [page - pending, page)
            while (page < region.endPage()) {
                if (populated != null && !populated.contains(page)) {
                    // A hole: zero, known without reading (which would allocate it).
                    long next = populated.nextSetBit(page);
                    long holeEnd = next < 0 ? region.endPage() : Math.min(next, region.endPage());
                    if (holeEnd - page >= MIN_ZERO_RUN_PAGES) {
                        total += flush(link, digests, page, pending);
                        pending = 0;
                        while (page < holeEnd) {
                            long n = Math.min(holeEnd - page, VerifyFrames.MAX_ZERO_RUN_PAGES);
                            link.send(VerifyFrames.Digests.zeroRun(page, n));
                            page += n;
                            total += n;
                        }
                        continue;
                    }
                    int n = (int) Math.min(holeEnd - page, perFrame - pending);
                    Arrays.fill(digests, pending, pending + n, zeroDigest);
                    pending += n;
                    page += n;
                } else {
                    long hole = populated == null ? Long.MAX_VALUE : populated.nextClearBit(page);
                    int n = (int) Math.min(Math.min(CHUNK_PAGES, perFrame - pending),
                            Math.min(region.endPage(), hole < 0 ? Long.MAX_VALUE : hole) - page);
                    scratch.clear();
                    memory.readPages(page, n, scratch);
                    for (int i = 0; i < n; i++) {
                        long p = page + i;
                        digests[pending + i] = skippedFree != null && skippedFree.contains(p) ? zeroDigest
                                : digester.digest(scratch, i * pageSize);
                    }
                    pending += n;
                    page += n;
                }
                if (pending == perFrame) {
                    total += flush(link, digests, page, pending);
                    pending = 0;
                }
            }
            total += flush(link, digests, page, pending);
        }
        long blocks = 0;
        for (int i = 0; i < disks.size(); i++) {
            blocks += verifyDisk(i, disks.get(i), link);
        }
        link.send(new VerifyFrames.DigestsEnd(total));
        VerifyFrames.VerifyResult result = link.await(VerifyFrames.VerifyResult.class).message();
        if (result.checkedBlocks() != blocks) {
            throw link.protocol(ProtocolException.Kind.INCONSISTENT_LENGTH, "destination checked "
                    + result.checkedBlocks() + " disk blocks, " + blocks + " were sent");
        }
        if (result.checkedPages() != total) {
            throw link.protocol(ProtocolException.Kind.INCONSISTENT_LENGTH, "destination checked "
                    + result.checkedPages() + " pages, " + total + " were sent");
        }
        long mismatched = result.mismatchedPages();
        if (mismatched != 0) {
            LOG.warn("verification failed: {} of {} pages differ, first at page {}", mismatched, total,
                    result.firstMismatch());
        }
        if (result.mismatchedBlocks() != 0) {
            LOG.warn("verification failed: {} of {} disk blocks differ", result.mismatchedBlocks(), blocks);
        }
        boolean same = mismatched == 0 && result.mismatchedBlocks() == 0;
        return new MigrationReport.Check(same ? Verification.VERIFIED : Verification.MISMATCH, mismatched,
                Duration.ofNanos(time.nanoTime() - start), blocks, result.mismatchedBlocks());
    }

    /** Sends a DISK_VERIFY digest of every block of disk {@code index}; @return the blocks digested */
    static long verifyDisk(int index, DiskSource disk, SourceLink link) throws MigrationException {
        DiskDescriptor d = disk.descriptor();
        if (d.blockCount() > DiskFrames.MAX_VERIFIED_BLOCKS) {
            LOG.warn("disk {} has {} blocks, more than verification covers ({}); not verified", d.id(),
                    d.blockCount(), DiskFrames.MAX_VERIFIED_BLOCKS);
            return 0;
        }
        int blockBytes = d.blockSizeBytes();
        int perFrame = Math.min(DiskFrames.MAX_DIGESTS,
                (link.frameLimitBytes() - Wire.MIN_FRAME_BYTES - DiskFrames.DIGESTS_HEADER_BYTES) / 8);
        int chunkBlocks = Math.max(1, Math.min(perFrame, (1 << 20) / blockBytes));
        ByteBuffer chunk = ByteBuffer.allocateDirect(chunkBlocks * blockBytes);
        long block = 0;
        while (block < d.blockCount()) {
            int n = (int) Math.min(chunkBlocks, d.blockCount() - block);
            chunk.clear().limit(n * blockBytes);
            disk.readBlocks(block, n, chunk);
            long[] digests = new long[n];
            for (int k = 0; k < n; k++) {
                digests[k] = BlockDigest.of(chunk.duplicate().position(k * blockBytes).limit((k + 1) * blockBytes));
            }
            link.send(new DiskFrames.BlockDigests(FrameType.DISK_VERIFY, index, block, digests));
            block += n;
        }
        return d.blockCount();
    }
}
