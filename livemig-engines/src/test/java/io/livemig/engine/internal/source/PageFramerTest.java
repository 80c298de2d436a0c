package io.livemig.engine.internal.source;

import io.livemig.engine.internal.wire.PageBatchWriter;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MemorySource;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A page sent again with the content it was last sent with is left out when the round that
 * sent it hashed it (small rounds); one changed since, one sent since without a hash, or one
 * whose earlier frames were dropped unsent goes again.
 */
class PageFramerTest {

    private static final int PAGE = 4096;

    /** 64 pages of heap memory, each filled with one byte value. */
    private static final class Memory implements MemorySource {
        private final MemoryLayout layout = new MemoryLayout(PAGE, List.of(new MemoryRegion(0, 64)));
        private final byte[] bytes = new byte[64 * PAGE];

        void fill(long page, int value) {
            java.util.Arrays.fill(bytes, (int) page * PAGE, (int) page * PAGE + PAGE, (byte) value);
        }

        @Override
        public MemoryLayout layout() {
            return layout;
        }

        @Override
        public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
            destination.put(bytes, (int) firstPage * PAGE, pageCount * PAGE);
        }
    }

    private final Memory memory = new Memory();
    private final PageFramer framer = new PageFramer(memory, PAGE, 64, Wire.MIN_MAX_FRAME_BYTES, null, p -> p, 1);

    /** Sends pages {@code pages} as round {@code round}; @return how many went (the rest were left out). */
    private int round(int round, boolean hashing, long... pages) throws Exception {
        framer.hashRound(hashing);
        int sent = 0;
        for (long p : pages) {
            sent += framer.append(p, round, false, true) ? 1 : 0;
        }
        PageBatchWriter frame = framer.flush();
        if (frame != null) {
            assertEquals(sent, frame.entries());
            framer.release(frame);
        }
        return sent;
    }

    @Test
    void aPageSentAgainUnchangedAfterAHashedRoundIsLeftOut() throws Exception {
        memory.fill(1, 7);
        memory.fill(2, 8);
        assertEquals(2, round(0, true, 1, 2));
        memory.fill(2, 9); // page 1 is reported dirty without having changed
        assertEquals(1, round(1, true, 1, 2), "only the changed page goes");
        assertEquals(1, framer.counters().encodings(PAGE).unchangedPages());
    }

    @Test
    void aPageSentWithoutAHashSinceGoesAgainEvenIfItIsBackToItsHashedContent() throws Exception {
        memory.fill(1, 7);
        assertEquals(1, round(0, true, 1));
        memory.fill(1, 8);
        assertEquals(1, round(1, false, 1)); // a big round: sent, not hashed
        memory.fill(1, 7); // back to what the first round sent; the destination holds 8
        assertEquals(1, round(2, true, 1), "the destination holds the unhashed version");
    }

    @Test
    void aZeroPageSentSinceForgetsTheHash() throws Exception {
        memory.fill(1, 7);
        assertEquals(1, round(0, true, 1));
        memory.fill(1, 0);
        assertEquals(1, round(1, true, 1)); // a zero entry
        memory.fill(1, 7);
        assertEquals(1, round(2, true, 1), "the destination holds zeros");
    }

    @Test
    void framesDroppedUnsentForgetEveryHash() throws Exception {
        memory.fill(1, 7);
        memory.fill(2, 8);
        framer.hashRound(true);
        assertTrue(framer.append(1, 0, false, true));
        assertTrue(framer.append(2, 0, false, true));
        framer.discard(); // the round was abandoned: neither page reached the destination
        assertEquals(2, round(1, true, 1, 2));
    }

    @Test
    void postcopyPagesAreNeverLeftOut() throws Exception {
        memory.fill(1, 7);
        assertEquals(1, round(0, true, 1));
        framer.hashRound(true);
        assertTrue(framer.append(1, 1, false, false), "post-copy: the destination may not hold it");
        framer.discard();
        assertFalse(framer.hasOpenFrame());
    }
}
