package io.livemig.engine.internal.source;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationReport;
import io.livemig.api.ProtocolException;
import io.livemig.api.TimeSource;
import io.livemig.api.Verification;
import io.livemig.engine.internal.PageDigests;
import io.livemig.engine.internal.wire.VerifyFrames;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MemorySource;
import io.livemig.spi.PageSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;

/**
 * The source's side of verification: digests every page of the (still paused) source VM, sends
 * the digests, and takes the destination's comparison. Pages the guest reported free and that
 * were never sent count as zero pages (a hint means their content does not matter), and so do
 * the pages the provider says are unpopulated, without being read.
 *
 * <p>The migration's thread only.
 */
final class SourceVerifier {

    private static final Logger LOG = LoggerFactory.getLogger(SourceVerifier.class);
    /** Pages read per bulk read. */
    private static final int CHUNK_PAGES = 256;

    private SourceVerifier() {
    }

    /**
     * @param skippedFree free pages never sent, or null
     * @return the comparison's result
     * @throws MigrationException if the link failed or the destination's answer is inconsistent
     */
    static MigrationReport.Check verify(MemorySource memory, PageSet skippedFree, SourceLink link, TimeSource time)
            throws MigrationException {
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
            while (page < region.endPage()) {
                int count = (int) Math.min(perFrame, region.endPage() - page);
                for (int done = 0; done < count; ) {
                    long at = page + done;
                    if (populated != null && !populated.contains(at)) {
                        // A hole: zero, known without reading (which would allocate it).
                        long next = populated.nextSetBit(at);
                        int n = (int) Math.min(count - done, next < 0 ? Long.MAX_VALUE : next - at);
                        Arrays.fill(digests, done, done + n, zeroDigest);
                        done += n;
                        continue;
                    }
                    long hole = populated == null ? Long.MAX_VALUE : populated.nextClearBit(at);
                    int n = (int) Math.min(Math.min(CHUNK_PAGES, count - done), hole < 0 ? Long.MAX_VALUE : hole - at);
                    scratch.clear();
                    memory.readPages(at, n, scratch);
                    for (int i = 0; i < n; i++) {
                        long p = at + i;
                        digests[done + i] = skippedFree != null && skippedFree.contains(p) ? zeroDigest
                                : digester.digest(scratch, i * pageSize);
                    }
                    done += n;
                }
                link.send(new VerifyFrames.Digests(page, Arrays.copyOf(digests, count)));
                page += count;
                total += count;
            }
        }
        link.send(new VerifyFrames.DigestsEnd(total));
        VerifyFrames.VerifyResult result = link.await(VerifyFrames.VerifyResult.class).message();
        if (result.checkedPages() != total) {
            throw link.protocol(ProtocolException.Kind.INCONSISTENT_LENGTH, "destination checked "
                    + result.checkedPages() + " pages, " + total + " were sent");
        }
        long mismatched = result.mismatchedPages();
        if (mismatched != 0) {
            LOG.warn("verification failed: {} of {} pages differ, first at page {}", mismatched, total,
                    result.firstMismatch());
        }
        return new MigrationReport.Check(mismatched == 0 ? Verification.VERIFIED : Verification.MISMATCH, mismatched,
                Duration.ofNanos(time.nanoTime() - start));
    }
}
