package io.livemig.spi;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PageSetTest {

    @Test
    void iterationVisitsExactlyTheAddedPagesInOrder() {
        PageSet set = new PageSet(10_000);
        TreeSet<Long> expected = new TreeSet<>();
        Random random = new Random(7);
        for (int i = 0; i < 500; i++) {
            long page = random.nextInt(10_000);
            set.add(page);
            expected.add(page);
        }
        TreeSet<Long> seen = new TreeSet<>();
        for (long p = set.nextSetBit(0); p >= 0; p = set.nextSetBit(p + 1)) {
            seen.add(p);
        }
        assertEquals(expected, seen);
        assertEquals(expected.size(), set.cardinality());
    }

    @Test
    void addRangeCoversWordBoundariesExactly() {
        PageSet set = new PageSet(300);
        set.addRange(60, 130);
        assertEquals(130, set.cardinality());
        assertFalse(set.contains(59));
        assertTrue(set.contains(60));
        assertTrue(set.contains(189));
        assertFalse(set.contains(190));
        assertEquals(190, set.nextClearBit(60));
    }

    @Test
    void orWordIgnoresBitsPastTheSpan() {
        PageSet set = new PageSet(70);
        set.orWord(1, -1L);
        assertEquals(6, set.cardinality());
        assertEquals(-1, set.nextSetBit(70));
    }

    @Test
    void bulkWordsCopyOutAndOrInLikeTheirOneWordForms() {
        PageSet set = new PageSet(200); // 4 words, the last holding pages 192-199
        set.addRange(60, 10);
        set.add(199);
        long[] out = new long[3];
        set.copyWords(1, out);
        assertEquals(List.of(set.word(1), set.word(2), set.word(3)), List.of(out[0], out[1], out[2]));

        PageSet into = new PageSet(200);
        into.add(5);
        into.orWords(2, new long[] {1L, -1L}); // page 128, then every bit of the last word
        assertEquals(1 + 1 + 8, into.cardinality(), "bits past the span are ignored");
        assertTrue(into.contains(5) && into.contains(128) && into.contains(192) && into.contains(199));
        assertEquals(-1, into.nextSetBit(200));

        assertThrows(IndexOutOfBoundsException.class, () -> set.copyWords(2, new long[3]));
        assertThrows(IndexOutOfBoundsException.class, () -> into.orWords(-1, new long[1]));
        assertThrows(IndexOutOfBoundsException.class, () -> into.orWords(4, new long[1]));
    }

    @Test
    void allOfSkipsHoles() {
        MemoryLayout layout = new MemoryLayout(4096, List.of(new MemoryRegion(0, 10), new MemoryRegion(20, 5)));
        PageSet set = PageSet.allOf(layout);
        assertEquals(15, set.cardinality());
        assertFalse(set.contains(15));
        assertEquals(25, set.pageSpan());
    }

    @Test
    void addAllAndRemoveAllAreSetUnionAndDifference() {
        PageSet a = new PageSet(128);
        PageSet b = new PageSet(128);
        a.addRange(0, 64);
        b.addRange(32, 64);
        PageSet union = a.copy();
        union.addAll(b);
        assertEquals(96, union.cardinality());
        union.removeAll(b);
        assertEquals(32, union.cardinality());
        assertThrows(IllegalArgumentException.class, () -> a.addAll(new PageSet(64)));
    }

    @Test
    void retainAllIsSetIntersection() {
        PageSet a = new PageSet(200);
        a.addRange(0, 100);
        PageSet b = new PageSet(200);
        b.addRange(64, 100);
        a.retainAll(b);
        assertEquals(36, a.cardinality());
        assertEquals(64, a.nextSetBit(0));
        assertEquals(100, a.nextClearBit(64));
        assertThrows(IllegalArgumentException.class, () -> a.retainAll(new PageSet(64)));
    }

    @Test
    void pagesOutsideTheSpanAreRejected() {
        PageSet set = new PageSet(64);
        assertThrows(IndexOutOfBoundsException.class, () -> set.add(64));
        assertThrows(IndexOutOfBoundsException.class, () -> set.addRange(60, 5));
        assertFalse(set.contains(-1));
    }
}
