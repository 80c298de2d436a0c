package io.livemig.spi;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MemoryLayoutTest {

    private final MemoryLayout withHole = new MemoryLayout(4096,
            List.of(new MemoryRegion(0, 768), new MemoryRegion(1024, 256)));

    @Test
    void countsRamButNotHoles() {
        assertEquals(1024, withHole.pageCount());
        assertEquals(1024L * 4096, withHole.memoryBytes());
        assertEquals(1280, withHole.pageSpan());
    }

    @Test
    void runsMustLieInsideOneRegion() {
        assertTrue(withHole.containsRun(0, 768));
        assertFalse(withHole.containsRun(700, 100));
        assertFalse(withHole.containsRun(768, 1));
        assertTrue(withHole.containsRun(1024, 256));
        assertFalse(withHole.containsRun(1279, 2));
        assertFalse(withHole.containsRun(Long.MAX_VALUE - 1, 5));
    }

    @Test
    void rejectsOverlapBadPageSizesAndEmptyLayouts() {
        assertThrows(IllegalArgumentException.class,
                () -> new MemoryLayout(4096, List.of(new MemoryRegion(0, 10), new MemoryRegion(5, 10))));
        assertThrows(IllegalArgumentException.class, () -> new MemoryLayout(3000, List.of(new MemoryRegion(0, 1))));
        assertThrows(IllegalArgumentException.class, () -> new MemoryLayout(4096, List.of()));
        assertThrows(IllegalArgumentException.class, () -> new MemoryRegion(0, 0));
        assertThrows(IllegalArgumentException.class, () -> MemoryLayout.contiguous(4096, 4097));
    }
}
