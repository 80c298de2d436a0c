package io.livemig.kvm;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The VMM's own record of the guest pages it wrote: exact runs, drained once, nothing lost to a race. */
class VmmDirtyPagesTest {

    private static BitSet drain(VmmDirtyPages pages) {
        BitSet got = new BitSet();
        pages.drainInto((word, bits) -> {
            for (int b = 0; b < 64; b++) {
                if ((bits & (1L << b)) != 0) {
                    got.set(word * 64 + b);
                }
            }
        });
        return got;
    }

    @Test
    void runsAcrossWordsAreRecordedExactlyAndDrainedOnce() {
        VmmDirtyPages pages = new VmmDirtyPages(10_000);
        pages.mark(60, 10);        // across a word boundary
        pages.mark(4095, 2);       // across a summary word boundary (64 words)
        pages.mark(9_999, 1);      // the last page
        pages.mark(100, 0);        // nothing
        BitSet expected = new BitSet();
        expected.set(60, 70);
        expected.set(4095, 4097);
        expected.set(9_999);
        assertEquals(expected, drain(pages));
        assertEquals(new BitSet(), drain(pages), "drained twice");
        pages.mark(5, 1);
        pages.clear();
        assertEquals(new BitSet(), drain(pages), "cleared");
        assertThrows(IndexOutOfBoundsException.class, () -> pages.mark(9_999, 2));
        assertThrows(IndexOutOfBoundsException.class, () -> pages.mark(-1, 1));
    }

    @Test
    void concurrentWritersLoseNoPageToTheDrainer() throws Exception {
        int span = 1 << 20;
        VmmDirtyPages pages = new VmmDirtyPages(span);
        int writers = 3;
        BitSet[] marked = new BitSet[writers];
        CountDownLatch done = new CountDownLatch(writers);
        AtomicBoolean go = new AtomicBoolean();
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < writers; w++) {
            BitSet mine = new BitSet();
            marked[w] = mine;
            long seed = w + 1;
            threads.add(Thread.ofPlatform().start(() -> {
                SplittableRandom r = new SplittableRandom(seed);
                while (!go.get()) {
                    Thread.onSpinWait();
                }
                for (int i = 0; i < 100_000; i++) {
                    int page = r.nextInt(span - 8);
                    int count = 1 + r.nextInt(8);
                    pages.mark(page, count);
                    mine.set(page, page + count);
                }
                done.countDown();
            }));
        }
        BitSet drained = new BitSet();
        go.set(true);
        while (done.getCount() > 0) {
            drained.or(drain(pages));
        }
        drained.or(drain(pages));
        for (Thread t : threads) {
            t.join();
        }
        BitSet all = new BitSet();
        for (BitSet m : marked) {
            all.or(m);
        }
        assertEquals(all, drained);
    }
}
