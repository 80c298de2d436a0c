package io.livemig.engine.internal;

import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PageDigestsTest {

    private static final int PAGE = 4096;

    @Test
    void aSparseLayoutCostsOneDigestPerRamPageNotPerPageOfItsSpan() {
        MemoryLayout sparse = new MemoryLayout(PAGE, List.of(new MemoryRegion(0, 16), new MemoryRegion(1L << 36, 1)));
        PageDigests digests = new PageDigests(sparse);
        assertEquals(17, digests.digestCount(), "a 17-page layout of span 2^36");
        digests.set(1L << 36, 42);
        assertEquals(42, digests.get(1L << 36));
        assertEquals(PageDigests.zeroDigest(PAGE), digests.get(15));
    }

    @Test
    void everyRamPageKeepsItsOwnDigestAcrossRegionsAndChunks() {
        long big = PageDigests.CHUNK_DIGESTS + 5L;
        MemoryLayout layout = new MemoryLayout(PAGE, List.of(new MemoryRegion(10, 3),
                new MemoryRegion(100, big), new MemoryRegion(100 + big + 7, 2)));
        PageDigests digests = new PageDigests(layout);
        long[] pages = {10, 12, 100, 100 + PageDigests.CHUNK_DIGESTS - 4, 100 + PageDigests.CHUNK_DIGESTS - 3,
            100 + big - 1, 100 + big + 7, 100 + big + 8};
        for (int i = 0; i < pages.length; i++) {
            digests.set(pages[i], i + 1);
        }
        for (int i = 0; i < pages.length; i++) {
            assertEquals(i + 1, digests.get(pages[i]), "page " + pages[i]);
        }
        assertEquals(PageDigests.zeroDigest(PAGE), digests.get(11), "a page never set is a zero page");
    }

    @Test
    void aBigVmCostsOnlyTheChunksItsPagesLandedIn() {
        PageDigests digests = new PageDigests(new MemoryLayout(PAGE, List.of(new MemoryRegion(0, 4L << 20))));
        assertEquals(0, digests.chunksMade(), "16 GiB of pages, nothing recorded yet");
        digests.set(3, 7);
        digests.set(5, 8);
        digests.set((4L << 20) - 1, 9);
        assertEquals(2, digests.chunksMade());
        assertEquals(PageDigests.zeroDigest(PAGE), digests.get(2L << 20), "an unmade chunk holds zero pages");
    }

    @Test
    void aZeroRunFindsOnlyPagesThatLandedNonZeroAcrossChunks() {
        long big = 3L * PageDigests.CHUNK_DIGESTS;
        MemoryLayout layout = new MemoryLayout(PAGE, List.of(new MemoryRegion(0, 8), new MemoryRegion(100, big)));
        PageDigests digests = new PageDigests(layout);
        assertEquals(-1, digests.nextNonZero(100, 100 + big), "nothing landed: all zero, no chunk made");
        assertEquals(0, digests.chunksMade());
        long late = 100 + 2L * PageDigests.CHUNK_DIGESTS + 9;
        digests.set(late, 5);
        digests.set(101, PageDigests.zeroDigest(PAGE)); // landed, and zero: not a difference
        assertEquals(late, digests.nextNonZero(100, 100 + big));
        assertEquals(-1, digests.nextNonZero(late + 1, 100 + big));
        assertEquals(-1, digests.nextNonZero(100, late), "the run ends before it");
        assertThrows(IndexOutOfBoundsException.class, () -> digests.nextNonZero(4, 102), "a run across regions");
    }

    @Test
    void threadsRecordingDifferentPagesOfOneChunkLoseNone() throws Exception {
        PageDigests digests = new PageDigests(new MemoryLayout(PAGE, List.of(new MemoryRegion(0, 1 << 12))));
        int threads = 4;
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            int first = t;
            workers[t] = Thread.ofPlatform().start(() -> {
                for (int page = first; page < 1 << 12; page += threads) {
                    digests.set(page, page + 1);
                }
            });
        }
        for (Thread w : workers) {
            w.join();
        }
        for (int page = 0; page < 1 << 12; page++) {
            assertEquals(page + 1, digests.get(page), "page " + page);
        }
    }

    @Test
    void aPageOutsideTheLayoutHasNoDigest() {
        PageDigests digests = new PageDigests(new MemoryLayout(PAGE, List.of(new MemoryRegion(0, 4),
                new MemoryRegion(8, 4))));
        for (long page : new long[] {-1, 4, 7, 12, Long.MAX_VALUE}) {
            assertThrows(IndexOutOfBoundsException.class, () -> digests.get(page), "page " + page);
            assertThrows(IndexOutOfBoundsException.class, () -> digests.set(page, 1), "page " + page);
        }
    }
}
