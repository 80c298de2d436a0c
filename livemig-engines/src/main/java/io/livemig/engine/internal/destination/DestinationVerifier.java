package io.livemig.engine.internal.destination;

import io.livemig.api.MigrationReport;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.TimeSource;
import io.livemig.api.Verification;
import io.livemig.engine.internal.PageDigests;
import io.livemig.engine.internal.wire.VerifyFrames;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.MemoryLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.time.Duration;

/**
 * The destination's side of verification: records the digest of every page as it lands (read
 * back from guest memory, so what is compared is what the VM will see), then compares the
 * source's digests with them. Pages never sent keep the digest of a zero page: a new target's
 * memory is zero.
 *
 * <p>Pages are recorded from the receiving thread and from each data connection's thread
 * ({@link DataStreams}), each for pages no other thread records: digests of different pages live in
 * different slots, and each thread digests with its own {@link PageDigests.Digester}. The receiving
 * thread compares, once every data connection was synced (the barrier orders their records before
 * it). Not thread-safe otherwise.
 */
final class DestinationVerifier {

    private static final Logger LOG = LoggerFactory.getLogger(DestinationVerifier.class);

    private final MemoryLayout layout;
    private final TimeSource time;
    private final PageDigests digests;
    /** A digester per thread that records: the first channel's and each data connection's. */
    private final ThreadLocal<PageDigests.Digester> digester;
    private final int zeroDigest;
    private long startNanos = -1;
    private long checked;
    private long mismatched;
    private long firstMismatch = -1;
    private MigrationReport.Check result = MigrationReport.Check.NOT_CHECKED;

    DestinationVerifier(MemoryLayout layout, TimeSource time) {
        this.layout = layout;
        this.time = time;
        this.digests = new PageDigests(layout);
        this.digester = ThreadLocal.withInitial(() -> new PageDigests.Digester(layout.pageSizeBytes()));
        this.zeroDigest = PageDigests.zeroDigest(layout.pageSizeBytes());
    }

    /** Records that {@code page} now holds the page at {@code [offset, offset + pageSize)} of {@code content}. */
    void landed(long page, ByteBuffer content, int offset) {
        digests.set(page, digester.get().digest(content, offset));
    }

    /** Records that {@code page} is now all zero. */
    void landedZero(long page) {
        digests.set(page, zeroDigest);
    }

    /** Compares one DIGESTS frame (digests, or a run of zero pages) with what landed. */
    void compare(VerifyFrames.Digests frame) {
        if (startNanos < 0) {
            startNanos = time.nanoTime();
        }
        if (frame.zeroRunPages() > 0) {
            // Pages zero at the source (never written there): what landed here must be zero too.
            long end = frame.firstPage() + frame.zeroRunPages();
            for (long page = digests.nextNonZero(frame.firstPage(), end); page >= 0;
                    page = digests.nextNonZero(page + 1, end)) {
                if (mismatched++ == 0) {
                    firstMismatch = page;
                }
            }
            checked += frame.zeroRunPages();
            return;
        }
        int[] theirs = frame.digests();
        for (int i = 0; i < theirs.length; i++) {
            long page = frame.firstPage() + i;
            if (theirs[i] != digests.get(page) && mismatched++ == 0) {
                firstMismatch = page;
            }
        }
        checked += theirs.length;
    }

    /**
     * Ends the comparison.
     *
     * @param checkedBlocks    disk blocks compared by the {@link DiskReceiver}
     * @param mismatchedBlocks disk blocks that differed
     * @return the result to send back
     * @throws WireException if the digests do not cover every page exactly once
     */
    VerifyFrames.VerifyResult end(VerifyFrames.DigestsEnd end, long checkedBlocks, long mismatchedBlocks)
            throws WireException {
        long expected = layout.pageCount();
        if (end.count() != expected || checked != expected) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "DIGESTS_END says " + end.count() + " pages, "
                    + checked + " were received, the layout has " + expected);
        }
        if (mismatched > 0) {
            LOG.warn("verification failed: {} pages differ from the source's, first at page {}", mismatched,
                    firstMismatch);
        }
        if (mismatchedBlocks > 0) {
            LOG.warn("verification failed: {} of {} disk blocks differ from the source's", mismatchedBlocks,
                    checkedBlocks);
        }
        boolean same = mismatched == 0 && mismatchedBlocks == 0;
        result = new MigrationReport.Check(same ? Verification.VERIFIED : Verification.MISMATCH, mismatched,
                Duration.ofNanos(time.nanoTime() - (startNanos < 0 ? time.nanoTime() : startNanos)), checkedBlocks,
                mismatchedBlocks);
        return new VerifyFrames.VerifyResult(checked, mismatched, firstMismatch, checkedBlocks, mismatchedBlocks);
    }

    /** @return when the comparison started, -1 before the first DIGESTS */
    long startNanos() {
        return startNanos;
    }

    /** @return the comparison's result, NOT_CHECKED until it ended */
    MigrationReport.Check result() {
        return result;
    }
}
