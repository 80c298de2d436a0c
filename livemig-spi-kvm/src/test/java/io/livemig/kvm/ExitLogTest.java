package io.livemig.kvm;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The {@value ExitLog#FORMAT} encoding, without KVM. */
class ExitLogTest {

    private static final List<ExitLog.Exit> EXITS = List.of(
            new ExitLog.Exit(ExitLog.IO_IN, 0xEC, 4, 1, new byte[] {1, 2, 3, 4}),
            new ExitLog.Exit(ExitLog.IO_OUT, 0xED, 4, 1, new byte[] {(byte) 0xC8, 0, 0, 0}),
            new ExitLog.Exit(ExitLog.IO_OUT, 0xE9, 1, 3, new byte[] {'a', 'b', 'c'}),
            new ExitLog.Exit(ExitLog.MMIO_READ, 0xD000_0000L, 4, 1, new byte[] {-1, -1, -1, -1}),
            new ExitLog.Exit(ExitLog.MMIO_WRITE, 0xFFFF_FFFF_F000L, 8, 1, new byte[] {1, 2, 3, 4, 5, 6, 7, 8}),
            new ExitLog.Exit(ExitLog.HLT, 0, 0, 0, new byte[0]));

    @Test
    void everyKindOfExitSurvivesTheRoundTrip() {
        byte[] log = ExitLog.encode(EXITS);
        ExitLog.Reader r = new ExitLog.Reader(log);
        List<ExitLog.Exit> back = new ArrayList<>();
        while (r.hasNext()) {
            back.add(r.next());
        }
        assertEquals(EXITS.size(), back.size());
        for (int i = 0; i < EXITS.size(); i++) {
            assertTrue(EXITS.get(i).sameRequest(back.get(i)), EXITS.get(i).describe() + " came back as "
                    + back.get(i).describe());
            assertArrayEquals(EXITS.get(i).data(), back.get(i).data());
        }
    }

    @Test
    void aThirtyTwoBitPortAccessTakesSevenBytes() {
        assertEquals(7, ExitLog.encode(EXITS.subList(0, 1)).length);
        assertEquals(1, ExitLog.encode(EXITS.subList(5, 6)).length);
    }

    @Test
    void aCutShortRecordIsMalformedAndSaysWhere() {
        byte[] log = ExitLog.encode(EXITS.subList(0, 2));
        ExitLog.Reader r = new ExitLog.Reader(Arrays.copyOf(log, log.length - 1));
        r.next();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::next);
        assertTrue(e.getMessage().contains("at byte 7") && e.getMessage().contains("cut short"), e.getMessage());
    }

    @Test
    void anUnknownKindIsMalformed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new ExitLog.Reader(new byte[] {0x27}).next());
        assertTrue(e.getMessage().contains("kind 7"), e.getMessage());
        assertFalse(new ExitLog.Reader(new byte[0]).hasNext());
    }
}
